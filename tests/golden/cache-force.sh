#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
taskrunner -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo one > out/x; echo building'
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
echo "-- forced: no restore, the task runs"
taskrunner -f -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo two > out/x; echo building again'
cat out/x
