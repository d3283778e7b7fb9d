#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
taskrunner -n ok bash -c 'snapshot input.txt -o out --cmd "echo post-unpack stdout; echo post-unpack stderr >&2" --cmd "echo second"; mkdir -p out; echo built'
taskrunner -n bad bash -c 'snapshot input.txt -o out --cmd "echo about to fail; exit 3"; echo built' || echo "exit code: $?"
test -f "$TASKRUNNER_STATE_DIRECTORY/hash/bad.hash" || echo "no hash saved for bad"
