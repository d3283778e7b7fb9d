#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n top bash -c 'snapshot input.txt; echo "ran"'
taskrunner -n top bash -c 'snapshot input.txt; echo "ran again?"'
echo "-- with TASKRUNNER_LOG_INFO unset, a skip says nothing:"
TASKRUNNER_LOG_INFO= taskrunner -n top bash -c 'snapshot input.txt; echo "ran again?"'
