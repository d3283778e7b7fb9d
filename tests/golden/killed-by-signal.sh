taskrunner -n killed bash -c 'echo "about to die"; kill -KILL $$' || echo "exit code: $?"
