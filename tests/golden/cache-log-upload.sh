#: check output github
#: no toplevel
#: cache
#: github
#: env TASKRUNNER_UPLOAD_LOGS=1 TASKRUNNER_LOGS_PREFIX=logs/ TASKRUNNER_LOGS_VIEW_URL=https://logs.example.com/
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n uploaded bash -c 'snapshot -n --commit-status; echo "a line for the log"'
