#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# A task that rewrites an input-output file and also an input that is not a declared output:
# unstable, as before input-output files were recognised — one warn line, no hash, no upload,
# and the next run runs it again.
git init -q . && echo '{"dep":"^1"}' > package.json && echo '{"dep":"1.0.0"}' > package-lock.json && git add . && git commit -qm init
install() {
  taskrunner -n install bash -c 'snapshot package.json package-lock.json -o package-lock.json node_modules
    echo "installing"
    mkdir -p node_modules && echo 1.0.1 > node_modules/dep
    echo "{\"dep\":\"1.0.1\"}" > package-lock.json
    echo "{\"dep\":\"^1.0.1\"}" > package.json'
}
install
test -f "$TASKRUNNER_STATE_DIRECTORY/hash/install.hash" || echo "no hash saved"
$STORE_GET bundles/install-4d31e7e59364b78d47ccb109538c26fedcc5e550.tar.zst > /dev/null || echo "no archive uploaded"
echo "-- the next run runs it again"
install
