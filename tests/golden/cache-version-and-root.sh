#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
git init -q repo && cd repo && echo foo > input.txt && mkdir -p sub && git add . && git commit -qm init
root="$PWD/../outside-root"
mkdir -p "$root"
taskrunner -n tool bash -c 'snapshot input.txt --cache-version v2 --cache-root "$1" -o "$1/deps"; mkdir -p "$1/deps"; echo cached > "$1/deps/lib"; echo building' x "$root"
ls "$TASKRUNNER_REMOTE_CACHE_DIR/taskrunner/bundles" 2>/dev/null | sed 's/-[0-9a-f]\{40\}/-<hash>/' || true
rm -rf "$root/deps"; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
echo "-- restored into the cache root outside the repository"
taskrunner -n tool bash -c 'snapshot input.txt --cache-version v2 --cache-root "$1" -o "$1/deps"; echo "must not run"' x "$root"
cat "$root/deps/lib"
echo "-- from a subdirectory, TASKRUNNER_ROOT_DIRECTORY is the default cache root"
cd sub
TASKRUNNER_ROOT_DIRECTORY="$PWD/.." taskrunner -n sub bash -c 'snapshot ../input.txt -o ../built; mkdir -p ../built; echo made > ../built/file; echo building'
rm -rf ../built; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-3"
TASKRUNNER_ROOT_DIRECTORY="$PWD/.." taskrunner -n sub bash -c 'snapshot ../input.txt -o ../built; echo "must not run"'
cat ../built/file
