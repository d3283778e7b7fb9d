taskrunner -n missing ./no-such-command arg || echo "exit code: $?"
