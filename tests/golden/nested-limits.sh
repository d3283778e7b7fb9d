# A script that changes a resource limit before a nested taskrunner: the
# nested task runs under the changed limits, as it would in a process of its own.
ulimit -S -s 4096
ulimit -S -c 1000
taskrunner -n limited bash -c 'echo "stack $(ulimit -S -s), core $(ulimit -S -c)"'
