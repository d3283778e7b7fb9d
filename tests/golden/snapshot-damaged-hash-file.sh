#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
run() { taskrunner -n job bash -c 'snapshot input.txt; echo ran'; }
run
printf '{"hash": broken' > "$TASKRUNNER_STATE_DIRECTORY/hash/job.hash"
run
