# A script that closed the descriptors of the toplevel's streams: its nested
# task's lines go to the script's own stdout and stderr instead.
exec 60>&- 61>&-
taskrunner -n inner bash -c 'echo "inner out"; echo "inner err" >&2'
