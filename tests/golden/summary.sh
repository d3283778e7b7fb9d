#: no toplevel
#: env TASKRUNNER_SUMMARY=1
# TASKRUNNER_SUMMARY=1 alone (without TASKRUNNER_LOG_INFO) ends each build with its summary.
git init -q . && echo in > input.txt && git add . && git commit -qm init
taskrunner -n warm bash -c 'snapshot input.txt; echo warm' 2>/dev/null
echo "-- a toplevel that only ran nested tasks is not one that ran"
taskrunner -n all bash -c 'taskrunner -n warm bash -c "snapshot input.txt; echo skipped"; taskrunner -n plain true; taskrunner -n broken false || true'
echo "-- nor one that failed because a nested task did"
taskrunner -n all2 bash -e -c 'taskrunner -n warm bash -c "snapshot input.txt"; taskrunner -n broken2 false' || true
echo "-- but one that failed by itself is counted"
taskrunner -n all3 bash -c 'taskrunner -n plain3 true; exit 3' || true
echo "-- without TASKRUNNER_SUMMARY, no summary, even with TASKRUNNER_LOG_INFO"
TASKRUNNER_SUMMARY= TASKRUNNER_LOG_INFO=1 taskrunner -n plain4 true
