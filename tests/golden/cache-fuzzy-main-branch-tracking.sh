#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1 TASKRUNNER_MAIN_BRANCH=main
git init -q -b main upstream && (cd upstream && echo v1 > input.txt && git add . && git commit -qm init)
git clone -q upstream work 2>/dev/null && cd work
build() { taskrunner -n deps bash -c 'snapshot input.txt -o out --fuzzy-cache; test -f out/state && echo "from $(cat out/state)"; mkdir -p out; cat input.txt > out/state; test ! -f ../fail'; }
build
echo "-- main moves on; a new local change: the fuzzy cache is fetched once"
(cd ../upstream && echo other > other.txt && git add . && git commit -qm other) && git pull -q --no-rebase 2>/dev/null
echo v2 > input.txt && git commit -qam v2
rm -rf out; touch ../fail
build || echo "failed: $?"
echo "-- the task failed, but the main-branch commit did not move: no second fetch"
rm -rf out; echo v3 > input.txt && git commit -qam v3
build || echo "failed: $?"
