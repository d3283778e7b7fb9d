# no toplevel
# env TASKRUNNER_LOG_INFO=1
git init -q . && echo in > input.txt && git add . && git commit -qm init
taskrunner -n warm bash -c 'snapshot input.txt; echo warm' 2>/dev/null
taskrunner -n all bash -c 'taskrunner -n warm bash -c "snapshot input.txt; echo skipped"; taskrunner -n plain true; taskrunner -n broken false || true'
