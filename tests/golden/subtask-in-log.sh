#: env TASKRUNNER_DEBUG=1
#: sort
#: check output logs/toplevel.log
# Under TASKRUNNER_DEBUG=1 the terminal shows the old tool's debug lines and no more: our
# `Subtask NAME logs to PATH` goes to the parent's log only, on both routes (a nested task
# served inside the toplevel, and a nested taskrunner process). Sorted: a nested process
# writes its lines to the terminal itself while its parent relays `Starting subtask`.
taskrunner -n child true
