#: check output github
#: no toplevel
#: github lifetime=5 expires-offset=3600
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n first bash -e -c 'snapshot -n --commit-status; echo one'
sleep 5.5
echo "-- the cached token says it is valid for an hour, but it expired: 401, refresh, retry"
taskrunner -n second bash -e -c 'snapshot -n --commit-status; echo two'
