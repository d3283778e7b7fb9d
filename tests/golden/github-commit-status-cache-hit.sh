#: check output github
#: no toplevel
#: github
git init -q && echo foo > input.txt && git add . && git commit -q -m "Initial commit"
taskrunner -n mytask bash -e -c 'snapshot input.txt --commit-status; echo built'
echo "-- second build: skipped, reported as a cache hit"
taskrunner -n mytask bash -e -c 'snapshot input.txt --commit-status; echo built'
