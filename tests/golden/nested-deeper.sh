echo "level 1"
sleep 0.2
taskrunner -n level2 bash -c 'echo "level 2"; sleep 0.2; taskrunner -n level3 bash -c "echo level 3; echo level 3 err >&2"; echo "level 2 again"'
echo "level 1 again"
