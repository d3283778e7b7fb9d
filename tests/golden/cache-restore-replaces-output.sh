#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# A declared output belongs to its task: restoring it replaces what is there. Here an
# older lockfile's node_modules is restored over a newer one's, and the package only
# the newer lockfile had does not survive (the old tool merged, like tar -x).
git init -q . && echo /node_modules/ > .gitignore && echo "left-pad react" > lockfile && git add . && git commit -qm v1
install='snapshot lockfile -o node_modules; rm -rf node_modules; for p in $(cat lockfile); do mkdir -p node_modules/$p; echo "$p" > node_modules/$p/index.js; done; echo "installed $(cat lockfile)"'
taskrunner -n install bash -c "$install"
echo "left-pad react lodash" > lockfile && git commit -qam v2
taskrunner -n install bash -c "$install"
echo "-- back to v1: its archive is restored over v2's node_modules"
git checkout -q HEAD~1
taskrunner -n install bash -c "$install"
ls node_modules
