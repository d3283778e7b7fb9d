# no toplevel
taskrunner || echo "exit code: $?"
taskrunner --bogus echo hi || echo "exit code: $?"
taskrunner -n || echo "exit code: $?"
taskrunner -n 'a/b' true || echo "exit code: $?"
taskrunner --help | head -n 1 | sed 's/taskrunner .*/taskrunner VERSION/'
taskrunner --version | grep -q '^taskrunner [0-9]' && echo "version ok"
