#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
# The task's command is not part of its hash (as in the old tool): a changed command is skipped.
# With `snapshot --hash-command` it is: the command line (its argv) is one more raw input, and
# the rerun reason says "command changed". It hashes as the raw input `command: <argv as JSON>`
# would, so the old tool computes the same hash from `--raw 'command: ["./build.sh","v1"]'`.
git init -q . && echo foo > input.txt && git add . && git commit -qm init
echo "-- without --hash-command, a changed command is skipped"
taskrunner -n plain bash -c 'snapshot input.txt; echo "plain build v1"'
taskrunner -n plain bash -c 'snapshot input.txt; echo "plain build v2"'
echo "-- with it, the changed command runs, and says why"
taskrunner -n hashed bash -c 'snapshot input.txt --hash-command; echo "hashed build v1"'
taskrunner -n hashed bash -c 'snapshot input.txt --hash-command; echo "hashed build v1"'
taskrunner -n hashed bash -c 'snapshot input.txt --hash-command; echo "hashed build v2"'
grep -h "Rerun because" "$TASKRUNNER_STATE_DIRECTORY"/builds/*/logs/hashed.log
taskrunner --explain hashed | sed 's/(exit code 0, [0-9.]*s)/(exit code 0, <T>s)/'
echo "-- the same hash as the raw input the README documents"
printf '#!/usr/bin/env bash\nsnapshot input.txt --hash-command\necho "script $1"\n' > build.sh && chmod +x build.sh
taskrunner -n script ./build.sh v1
taskrunner -n raw bash -c 'snapshot input.txt --raw "command: [\"./build.sh\",\"v1\"]"; echo "raw"'
hash() { sed 's/^{"hash":"\([0-9a-f]*\)".*/\1/' "$TASKRUNNER_STATE_DIRECTORY/hash/$1.hash"; }
[ "$(hash script)" = "$(hash raw)" ] && echo "same hash: $(hash script)"
taskrunner -n script ./build.sh v2
echo "-- as a nested task (served by the toplevel, or a process of its own): the same argv, the same hash, skipped"
taskrunner -n wrap bash -c 'taskrunner -n script ./build.sh v2 && echo "wrapper done"'
