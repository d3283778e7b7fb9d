#: check output logs/toplevel.log logs/outer.log
# A parent task's log names the log file of each nested task it starts: one debug line (never on
# the terminal, tests/golden/subtask-in-log.sh), on both routes — a nested task served inside the
# toplevel, and a nested taskrunner process. A job that already ran in this build writes no new
# log, and its parent's log names none.
taskrunner -n outer bash -c 'taskrunner -n inner echo "inner output"; taskrunner -n inner true'
