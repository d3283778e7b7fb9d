#: no toplevel
#: check output hash/install.hash
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# An input-output file the task rewrites with the same bytes (`npm install` with nothing to
# change): its inputs hash as before the run, that hash is saved, and the next run skips.
git init -q . && echo '{"dep":"^1"}' > package.json && echo '{"dep":"1.0.0"}' > package-lock.json && git add . && git commit -qm init
install() {
  taskrunner -n install bash -c 'snapshot package.json package-lock.json -o package-lock.json node_modules
    echo "installing"
    mkdir -p node_modules && echo 1.0.0 > node_modules/dep
    cp package-lock.json lock.tmp && rm package-lock.json && mv lock.tmp package-lock.json'
}
install
echo "-- the next run skips"
install
cat "$TASKRUNNER_STATE_DIRECTORY"/builds/*/logs/install.log | grep "declared outputs" || echo "no line about rewritten inputs in the logs"
echo "-- another machine restores the archive of that hash"
rm -rf node_modules; export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
install
install
cat node_modules/dep
