#: env TASKRUNNER_OUTPUT_STREAM_TIMEOUT=1
taskrunner -n leaky bash -c 'sleep 4 & echo "started a background process holding stdout"'
echo "build continues"
