#: no toplevel
taskrunner || echo "exit code: $?"
taskrunner --bogus echo hi || echo "exit code: $?"
taskrunner -n || echo "exit code: $?"
taskrunner -n 'a/b' true || echo "exit code: $?"
taskrunner -n "$(printf 'x%.0s' {1..239})" true || echo "exit code: $?"
taskrunner -n "$(printf 'é%.0s' {1..120})" true || echo "exit code: $?"
taskrunner -n "$(printf 'y%.0s' {1..238})" echo "a 238-byte name is fine"
taskrunner --help | head -n 1 | sed 's/(taskrunner v.*)$/(taskrunner VERSION)/'
taskrunner --version | grep -q '^taskrunner [0-9]' && echo "version ok"
taskrunner -nfirst -fz true || echo "exit code: $?"
taskrunner -fnsecond echo "options spelled another way are parsed too"
