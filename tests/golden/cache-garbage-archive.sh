#: no toplevel
#: cache
#: env TASKRUNNER_LOG_INFO=1
git init -q . && echo foo > input.txt && git add . && git commit -qm init
hash=6b36308659163b577fd1c832107dc46ca3aa659b
head -c 3000 /dev/urandom > garbage
$STORE_PUT "bundles/build-$hash.tar.zst" garbage
echo "-- a garbage archive is a miss with one warning; the task runs"
taskrunner -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo x > out/x; echo building'
