#: no toplevel
git init -q . && mkdir src && echo a > src/a.txt && echo b > src/b.txt && git add . && git commit -qm init
run() { taskrunner -n job bash -c 'snapshot src --raw "$1"; echo "ran with $1"' x "$1"; }
run v1
echo a2 > src/a.txt; rm src/b.txt; echo c > src/c.txt
run v2
taskrunner --explain job | sed 's/(exit code 0, [0-9.]*s)/(exit code 0, <T>s)/'
echo "-- unchanged: skipped"
run v2
taskrunner --explain job | sed 's/(exit code 0, [0-9.]*s)/(exit code 0, <T>s)/'
taskrunner --explain never-ran || echo "exit code: $?"
