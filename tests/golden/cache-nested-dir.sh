#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1
# The old tool's fuzzy-cache-nested-dir case: a task started in nested/, with the repository as
# the cache root, declares outputs on both sides of its directory. Archive members are named
# relative to the cache root, as the old tool's `tar -c` named them, so a second clone restores
# both outputs in place.
git init -q -b main a && (cd a && mkdir nested && echo foo > nested/input.txt && git add . && git commit -qm init)
git clone -q a b
state="$TASKRUNNER_STATE_DIRECTORY"
go() {
  export TASKRUNNER_STATE_DIRECTORY="$state-$1" TASKRUNNER_ROOT_DIRECTORY="$PWD"
  (cd nested && taskrunner -n mytask bash -e -c '
    snapshot input.txt --fuzzy-cache --outputs output.txt ../output2.txt
    if [ -f output.txt ]; then echo "previous output is $(cat output.txt)"; else echo "no previous output"; fi
    echo "made from $(cat input.txt)" > output.txt
    cp output.txt ../output2.txt
  ')
}
cd a && go a
echo "Output in a is: $(cat nested/output.txt); output2: $(cat output2.txt)"
echo "-- archive members"
$STORE_MEMBERS bundles/mytask-c6621d9fa9e14eff5f583847f3d3463767c6c082.tar.zst
echo "-- a second clone restores both outputs"
cd ../b && go b
echo "Output in b is: $(cat nested/output.txt); output2: $(cat output2.txt)"
echo "-- changed input in the clone: the fuzzy cache restores both, then the task runs"
rm nested/output.txt output2.txt && echo bar > nested/input.txt && git commit -qam bar
go b2
echo "Output in b is: $(cat nested/output.txt); output2: $(cat output2.txt)"
echo "-- an output outside the cache root: the task runs and succeeds, its archive is not saved (one warning)"
cd nested
TASKRUNNER_ROOT_DIRECTORY="$PWD" taskrunner -n outside bash -c 'snapshot input.txt -o ../output2.txt; echo "ran"' && echo "exit code: $?"
