#: no toplevel
#: check output hash/build.hash
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add input.txt && git commit -qm init
build() { taskrunner -n build bash -c 'snapshot input.txt; echo "building from $(cat input.txt)"'; }
build
echo "second run, nothing changed:"
build
echo bar > input.txt
echo "third run, input changed:"
build
