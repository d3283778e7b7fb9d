#: check output github
#: no toplevel
#: github lifetime=6
#: env TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS=2
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n first bash -e -c 'snapshot -n --commit-status; echo one'
sleep 4.5
taskrunner -n second bash -e -c 'snapshot -n --commit-status; echo two'
