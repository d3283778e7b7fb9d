#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
mkdir out && echo "built by the old system" > out/x
TASKRUNNER_PRIME_CACHE_MODE=1 taskrunner -n build bash -c 'snapshot input.txt -o out; echo "must not run"'
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
echo "-- the primed cache restores"
taskrunner -n build bash -c 'snapshot input.txt -o out; echo "must not run"'
cat out/x
