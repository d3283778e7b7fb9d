#: no toplevel
#: check output hash/gen.hash
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo in > input.txt && git add . && git commit -qm init
run() { taskrunner -n gen bash -c 'snapshot input.txt -o out/made.txt out/forgotten.txt; mkdir -p out; echo made > out/made.txt; echo "forgot one output"'; }
run
echo "-- a declared output never created: no hash saved, so the task runs again"
run
