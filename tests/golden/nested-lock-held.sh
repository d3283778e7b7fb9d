#: sort
# Two callers of one job at once: the second waits for the first's lock, then
# finds its result and runs nothing.
taskrunner -n shared bash -c 'sleep 1; echo "ran once"' &
sleep 0.3
taskrunner -n shared bash -c 'echo "must not run"'
echo "second caller: $?"
wait
