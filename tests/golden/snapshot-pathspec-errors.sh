git init -q repo && cd repo && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n no-match bash -c 'snapshot does-not-exist.txt; echo "not reached"' || first=$?
cd /
taskrunner -n not-a-repo bash -c 'snapshot input.txt; echo "not reached"' || second=$?
echo "exit codes: $first $second"
