#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
build() { taskrunner -n build bash -c 'snapshot input.txt -o out --cmd "echo post-unpack ran"; mkdir -p out/sub; echo "built from $(cat input.txt)" > out/sub/result.txt; ln -sf sub/result.txt out/link; echo building'; }
build
echo "-- another machine: no local hash, no outputs"
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
build
cat out/sub/result.txt; readlink out/link
echo "-- inputs changed: a miss, the task runs"
echo bar > input.txt
build
