#: env TASKRUNNER_LOG_INFO=1
taskrunner -n cached bash -c 'snapshot --raw v1; echo "cached task ran"'
taskrunner -n cached2 bash -c 'snapshot --raw v1; exit 5' || true
