#: no toplevel
#: check output hash/flaky.hash
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
run() { taskrunner -n flaky bash -c 'snapshot input.txt; echo attempt; test -f ok'; }
run || echo "failed: $?"
echo "-- no hash was saved, so it runs again"
touch ok
run
