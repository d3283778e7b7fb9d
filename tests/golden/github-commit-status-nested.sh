#: check output github
#: no toplevel
#: github
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n mytask bash -e -c '
  snapshot -n --commit-status
  taskrunner -n othertask bash -e -c "snapshot -n --commit-status; echo Success"
'
