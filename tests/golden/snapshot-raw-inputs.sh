#: no toplevel
#: env TASKRUNNER_LOG_INFO=1
run() { taskrunner -n raw bash -c 'snapshot --raw "$1" --raw "$2"; echo "ran with $1 $2"' x "$@"; }
run a b
run a b
run a c
