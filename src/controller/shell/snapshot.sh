# Body of the bash function `snapshot`, exported to every task as
# BASH_FUNC_snapshot%%. It JSON-encodes its arguments with bash alone (the old
# function needed jq), writes one request line to the runner and evals the
# one-line reply (`true`, `exit 0` or `exit 1`). Before the request, with no
# reply, the shell's $PWD: relative paths are taken from the task's start
# directory, and the runner warns when a `cd` in the script moved away from it.
# Fast path: backslash, quote, newline, CR and tab by substitution; any other
# control character (rare) by a per-character loop.
if [ -z "${_taskrunner_request_pipe:-}" ] || [ -z "${_taskrunner_response_pipe:-}" ]; then
  echo "snapshot: not running inside a taskrunner task" >&2
  return 1
fi
local __tr_json='["snapshot"' __tr_pwd= __tr_first=1 __tr_arg __tr_out __tr_i __tr_c __tr_reply
for __tr_arg in "$PWD" "$@"; do
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
  if [ -n "$__tr_first" ]; then __tr_pwd=$__tr_arg __tr_first=; else __tr_json+=",\"$__tr_arg\""; fi
done
printf '["pwd","%s"]\n%s]\n' "$__tr_pwd" "$__tr_json" >&"$_taskrunner_request_pipe"
IFS= read -r -u "$_taskrunner_response_pipe" __tr_reply
eval "$__tr_reply"
