#: check output logs/mytask.log logs/toplevel.log results/mytask
taskrunner -n mytask bash -c 'echo "some standard output"; echo "more standard output"; echo "some standard error" >&2'
