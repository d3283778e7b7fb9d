echo '["random","command"]' >&${_taskrunner_request_pipe}
read -u ${_taskrunner_response_pipe} reply
eval "$reply"
