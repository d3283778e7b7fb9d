#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
echo local-edit > input.txt
taskrunner -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo x > out/x; echo building'
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
echo "-- uncommitted changes to the inputs: never restored, the task runs"
taskrunner -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo x > out/x; echo building again'
