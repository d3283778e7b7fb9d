# A nested task's lines go to the toplevel's streams even when the caller redirects them.
taskrunner -n inner bash -c 'echo "inner out"; echo "inner err" >&2' > captured.txt 2>&1
echo "captured: [$(cat captured.txt)]"
