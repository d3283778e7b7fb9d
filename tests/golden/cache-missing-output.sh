#: no toplevel
#: check output hash/build.hash
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
taskrunner -n build bash -c 'snapshot input.txt -o out/declared-but-never-made; echo "forgot to build the output"'
echo "exit code: $?"
echo "-- no hash was saved: it runs again"
taskrunner -n build bash -c 'snapshot input.txt -o out/declared-but-never-made; echo "forgot it again"'
