taskrunner -n once bash -c 'echo "runs once"'
taskrunner -n once bash -c 'echo "must not run"'
taskrunner -n failing bash -c 'echo "fails once"; exit 4' || echo "first: $?"
taskrunner -n failing bash -c 'echo "must not run either"' || echo "second: $?"
