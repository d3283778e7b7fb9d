echo "stdin is: $(readlink /proc/self/fd/0)"
cat
[ -r /dev/stdin ] && echo "readable"
