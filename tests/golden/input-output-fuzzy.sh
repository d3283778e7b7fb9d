#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# A fuzzy cache holds another build's outputs; when one of them is an input too (a lockfile),
# restoring it changes this task's inputs before it runs: the run does not start from the inputs
# it hashed, so one warn line says so, and nothing is saved under that hash (no local hash, no
# upload) — the next run runs it again.
git init -q -b main . && echo '{"dep":"^1"}' > package.json && echo '{"dep":"1.0.0"}' > package-lock.json && git add . && git commit -qm init
install() {
  taskrunner -n install bash -c 'snapshot package.json package-lock.json -o package-lock.json node_modules --fuzzy-cache
    echo "installing from $(cat package-lock.json)"
    mkdir -p node_modules && echo "$(cat package.json)" > node_modules/dep
    echo "{\"dep\":\"from $(cat package.json)\"}" > package-lock.json'
}
install
echo "-- a commit that changes both: a miss, and the fuzzy cache of main replaces the lockfile"
git checkout -q . && echo '{"dep":"^2"}' > package.json && echo '{"dep":"2.0.0"}' > package-lock.json && git commit -qam v2
export TASKRUNNER_STATE_DIRECTORY="$TASKRUNNER_STATE_DIRECTORY-2"
install
test -f "$TASKRUNNER_STATE_DIRECTORY/hash/install.hash" || echo "no hash saved"
$STORE_GET latest/install-main.txt; echo
