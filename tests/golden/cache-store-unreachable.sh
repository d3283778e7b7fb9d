#: no toplevel
#: cache s3
#: env TASKRUNNER_LOG_INFO=1 TASKRUNNER_SAVE_REMOTE_CACHE=1 TASKRUNNER_S3_ENDPOINT=http://127.0.0.1:9
git init -q . && echo foo > input.txt && git add . && git commit -qm init
taskrunner -n build bash -c 'snapshot input.txt -o out; mkdir -p out; echo x > out/x; echo building'
echo "exit code: $?"
