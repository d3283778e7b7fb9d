codes=()
taskrunner -n unknown-option bash -c 'snapshot --frobnicate; echo "not reached"' || codes+=($?)
taskrunner -n missing-value bash -c 'snapshot --raw; echo "not reached"' || codes+=($?)
taskrunner -n cmd-before-outputs bash -c 'snapshot --cmd "touch x" -o out; echo "not reached"' || codes+=($?)
taskrunner -n twice bash -c 'snapshot --raw a; snapshot --raw b; echo "not reached"' || codes+=($?)
echo "exit codes: ${codes[*]}"
