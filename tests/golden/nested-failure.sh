taskrunner -n child bash -c 'echo "child fails"; exit 7' || echo "child exit code: $?"
