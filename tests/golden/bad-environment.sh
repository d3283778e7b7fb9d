#: no toplevel
TASKRUNNER_OUTPUT_STREAM_TIMEOUT=soon taskrunner -n x true || echo "exit code: $?"
TASKRUNNER_S3_ENDPOINT='not a url' taskrunner -n x true || echo "exit code: $?"
