#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && echo x > other.txt && git add . && git commit -qm init
taskrunner -n unstable bash -c 'snapshot input.txt other.txt; echo "rewriting my own input"; echo changed > input.txt'
test -f "$TASKRUNNER_STATE_DIRECTORY/hash/unstable.hash" || echo "no hash saved"
