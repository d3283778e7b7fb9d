#: sort
# A script that uses descriptors 3-9 itself before calling a nested taskrunner.
# (Sorted: the inner task's stdout and stderr lines come through two pipes, whose
# order a loaded machine can swap.)
exec 3>"$PWD/three.txt" 4>&1 5>&2 6</dev/null 7>"$PWD/seven.txt" 8>&- 9>"$PWD/nine.txt"
echo "to three" >&3
taskrunner -n inner bash -c 'echo "inner still reaches the toplevel"; echo "inner stderr" >&2'
cat three.txt
