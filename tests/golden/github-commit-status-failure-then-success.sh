#: check output github
#: no toplevel
#: github
git init -q && git commit --allow-empty -q -m "Initial commit"
taskrunner -n mytask bash -e -c 'echo "failing first"; exit 1' || true
echo "-- the rerun succeeds: the red status turns green"
taskrunner -n mytask bash -e -c 'echo "now it works"'
