echo "Toplevel task"
taskrunner -n nested sh -c 'echo "Nested task"'
echo "Toplevel task again"
