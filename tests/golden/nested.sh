# A toplevel line is relayed by the toplevel runner while nested lines are
# written directly; the sleeps keep the relayed lines ahead, as on a calm machine.
echo "Toplevel task"
sleep 0.2
taskrunner -n nested sh -c 'echo "Nested task"'
echo "Toplevel task again"
