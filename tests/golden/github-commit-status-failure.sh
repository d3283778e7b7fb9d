#: check output github
#: no toplevel
#: github
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n mytask bash -e -c 'echo "no snapshot, but a failure is always reported"; exit 1' || echo "exit code: $?"
