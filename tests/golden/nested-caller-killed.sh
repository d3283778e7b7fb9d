#: sort
# The caller of a nested task is killed: the task is stopped too, as a
# SIGTERM to a nested taskrunner would stop it, and the build goes on.
taskrunner -n victim bash -c 'echo started; sleep 30; echo "must not finish"' &
caller=$!
sleep 1
kill "$caller"
wait "$caller" || echo "caller ended with $?"
sleep 0.5
echo "build goes on"
