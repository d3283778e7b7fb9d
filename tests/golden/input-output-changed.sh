#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# An input the task rewrites and declares as an output too (package-lock.json, which
# `npm install` rewrites): the task is stable. The local hash saved is the one after the run, so
# the next run skips; the archive goes under the hash before the run, which another machine
# computes before running, and the fuzzy pointer names that archive. A second clone restores it
# (the rewritten lockfile with it), saves the hash its inputs have after the restore, and skips.
git init -q -b main a && (cd a && echo '{"dep":"^1"}' > package.json && echo '{"dep":"1.0.0"}' > package-lock.json && git add . && git commit -qm init)
git clone -q a b
state="$TASKRUNNER_STATE_DIRECTORY"
install() {
  export TASKRUNNER_STATE_DIRECTORY="$state-$1"
  taskrunner -n install bash -c 'snapshot package.json package-lock.json -o package-lock.json node_modules --fuzzy-cache
    echo "installing from $(cat package-lock.json)"
    mkdir -p node_modules && echo 1.0.1 > node_modules/dep
    echo "{\"dep\":\"1.0.1\"}" > package-lock.json'
}
cd a && install a
echo "-- the next run skips"
install a
echo "-- the task's log says it in one debug line"
grep -h "declared outputs" "$state"-a/builds/*/logs/install.log
echo "-- the archive is under the hash before the run, and the fuzzy pointer names it"
$STORE_MEMBERS bundles/install-4d31e7e59364b78d47ccb109538c26fedcc5e550.tar.zst
$STORE_GET latest/install-main.txt; echo
echo "-- a second clone restores it, then skips"
cd ../b && install b
cat package-lock.json
install b
grep -h "declared outputs" "$state"-b/builds/*/logs/install.log
