#: check output github
#: no toplevel
#: github fail=create_status:500
git init -q && git commit --allow-empty -q -m "Initial commit"
echo "-- three faults in a build: the third says statuses are off, nothing is asked or said after it"
taskrunner -n top bash -e -c '
  snapshot -n --commit-status
  taskrunner -n a bash -e -c "snapshot -n --commit-status; echo a ran"
  taskrunner -n b bash -e -c "snapshot -n --commit-status; echo b ran"
'
echo "exit code: $?"
