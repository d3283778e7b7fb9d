#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo in > input.txt && git add . && git commit -qm init
run() { taskrunner -n gen bash -c 'snapshot input.txt -o out/result.txt; mkdir -p out; echo generated > out/result.txt; echo "generating"'; }
run
run
echo "-- someone deletes the output"
rm -r out
run
cat out/result.txt
