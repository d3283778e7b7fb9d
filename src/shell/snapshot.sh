# Body of the bash function `snapshot`, exported to every task as
# BASH_FUNC_snapshot%%. It JSON-encodes its arguments with bash alone (the old
# function needed jq), writes one request line to the runner and evals the
# one-line reply (`true`, `exit 0` or `exit 1`).
# Fast path: backslash, quote, newline, CR and tab by substitution; any other
# control character (rare) by a per-character loop.
if [ -z "${_taskrunner_request_pipe:-}" ] || [ -z "${_taskrunner_response_pipe:-}" ]; then
  echo "snapshot: not running inside a taskrunner task" >&2
  return 1
fi
local __tr_json='["snapshot"' __tr_arg __tr_out __tr_i __tr_c __tr_reply
for __tr_arg in "$@"; do
  __tr_arg=${__tr_arg//\\/\\\\}
  __tr_arg=${__tr_arg//\"/\\\"}
  __tr_arg=${__tr_arg//$'\n'/\\n}
  __tr_arg=${__tr_arg//$'\r'/\\r}
  __tr_arg=${__tr_arg//$'\t'/\\t}
  if [[ $__tr_arg == *[[:cntrl:]]* ]]; then
    __tr_out=
    for (( __tr_i = 0; __tr_i < ${#__tr_arg}; __tr_i++ )); do
      __tr_c=${__tr_arg:__tr_i:1}
      [[ $__tr_c == [[:cntrl:]] ]] && printf -v __tr_c '\\u%04x' "'$__tr_c"
      __tr_out+=$__tr_c
    done
    __tr_arg=$__tr_out
  fi
  __tr_json+=",\"$__tr_arg\""
done
printf '%s]\n' "$__tr_json" >&"$_taskrunner_request_pipe"
IFS= read -r -u "$_taskrunner_response_pipe" __tr_reply
eval "$__tr_reply"
