#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n warm bash -c 'snapshot input.txt; echo warm'
echo "-- a nested skip is silent"
taskrunner -n outer bash -c 'taskrunner -n warm bash -c "snapshot input.txt; echo not reached"; echo "outer done"'
