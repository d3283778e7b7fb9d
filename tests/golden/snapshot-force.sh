#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n outer bash -c 'snapshot input.txt; taskrunner -n inner bash -c "snapshot input.txt; echo inner"; echo outer'
echo "-- forced outer in a new build: inner is not forced"
taskrunner -f -n outer bash -c 'snapshot input.txt; taskrunner -n inner bash -c "snapshot input.txt; echo inner"; echo outer'
