#: env TASKRUNNER_OUTPUT_STREAM_TIMEOUT=1
taskrunner -n tidy bash -c 'sleep 4 >/dev/null 2>&1 & echo "background process does not hold our streams"'
echo "no warning above"
