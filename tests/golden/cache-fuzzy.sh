#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1 TASKRUNNER_SUMMARY=1
git init -q -b main . && echo v1 > input.txt && git add . && git commit -qm init
build() { taskrunner -n deps bash -c 'snapshot input.txt -o out --fuzzy-cache; test -f out/state && echo "incremental build from $(cat out/state)" || echo "build from scratch"; mkdir -p out; cat input.txt > out/state'; }
build
echo "-- inputs changed on the same branch: the latest cache of the branch is restored first"
echo v2 > input.txt && git commit -qam v2
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
build
echo "-- a new branch falls back to TASKRUNNER_FALLBACK_BRANCHES"
git checkout -q -b feature && echo v3 > input.txt && git commit -qam v3
rm -rf out; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-3"
TASKRUNNER_FALLBACK_BRANCHES="nonexistent main" build
