# A nested task left running in the background when its parent's script ends
# still finishes and prints before the build ends.
taskrunner -n parent bash -c 'taskrunner -n straggler bash -c "sleep 1; echo late" & echo "parent done"'
echo "after parent"
