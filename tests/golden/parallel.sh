#: sort
for i in 1 2 3 4 5 6 7 8; do
  taskrunner -n "job$i" bash -c 'for j in 1 2 3; do echo "line $j"; done' &
done
wait
