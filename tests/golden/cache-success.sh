#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && echo bar > other.txt && git add . && git commit -qm init
taskrunner -n tests bash -c 'snapshot input.txt --cache-success; echo "running the tests"'
taskrunner -n flaky bash -c 'snapshot other.txt --cache-success; echo "failing"; exit 1' || true
echo "-- another machine: the success is cached, the failure is not"
export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
taskrunner -n tests bash -c 'snapshot input.txt --cache-success; echo "must not run"'
taskrunner -n flaky bash -c 'snapshot other.txt --cache-success; echo "runs again"'
