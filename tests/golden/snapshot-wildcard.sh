#: no toplevel
#: check output logs/glob.log
git init -q . && mkdir src && echo a > src/a.txt && echo b > src/b.txt && git add . && git commit -qm init
taskrunner -n glob bash -c 'snapshot "src/*.txt"; echo built'
echo "-- a file the wildcard matches changed, one was added: the hash is the old tool's, which does not see them"
echo changed > src/a.txt && echo new > src/c.txt
taskrunner -n glob bash -c 'snapshot "src/*.txt"; echo "built again?"'
echo "-- a wildcard that matches no file fails, as git add does"
taskrunner -n none bash -c 'snapshot "nothing*"; echo "not reached"' || echo "exit code: $?"
