#: check output github
#: no toplevel
#: github fail=create_status:500
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n server-error bash -e -c 'snapshot -n --commit-status; echo "the task itself succeeds"'
echo "exit code: $?"
