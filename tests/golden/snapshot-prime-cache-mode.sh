#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_PRIME_CACHE_MODE=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n primed bash -c 'snapshot input.txt; echo "body must not run"'
test -f "$TASKRUNNER_STATE_DIRECTORY/hash/primed.hash" && echo "hash saved"
