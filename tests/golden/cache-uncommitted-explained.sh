#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# Uncommitted changes to tracked inputs keep the exact remote cache from being used (an archive of
# that hash may hold other work). The task's log says so at debug level, naming a few of the
# changed paths, and so does --explain for that run; the terminal shows nothing new.
git init -q . && mkdir src && for f in a b c d; do echo "$f" > "src/$f.txt"; done && echo new > src/untracked.txt
git add src/[abcd].txt && git commit -qm init
build() { taskrunner -n build bash -c 'snapshot src -o out; mkdir -p out; echo x > out/x; echo building'; }
echo "-- one changed file"
echo a2 > src/a.txt
build
grep -h "Remote cache not used" "$TASKRUNNER_STATE_DIRECTORY"/builds/*/logs/build.log
taskrunner --explain build | sed 's/(exit code 0, [0-9.]*s)/(exit code 0, <T>s)/'
echo "-- four of them (one staged, one deleted): three are named"
git add src/b.txt && echo c2 > src/c.txt && rm src/d.txt && echo b2 > src/b.txt
export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
build
grep -h "Remote cache not used" "$TASKRUNNER_STATE_DIRECTORY"/builds/*/logs/build.log
echo "-- the same inputs committed: the archive the run before saved is restored"
git add -A src && git commit -qm edits
export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-3"
build
grep -h "Remote cache not used" "$TASKRUNNER_STATE_DIRECTORY"/builds/*/logs/build.log || echo "(no such line)"
taskrunner --explain build | sed 's/(exit code 0, [0-9.]*s)/(exit code 0, <T>s)/'
