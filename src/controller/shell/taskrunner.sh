# Body of the bash function `taskrunner`, exported to the tasks of a build whose
# toplevel serves nested tasks itself (see src/toplevel/nested-server.ts for the protocol).
# Whenever serving is not possible — bash older than 4.4, no server (or no
# token for it), a refused connection, or a request the server declines — it
# runs the taskrunner binary, as a script without the function would. The
# token goes first: the server reads nothing else from a connection without it.
# Its own workings stay out of `set -x` traces, and `set -e`/`-u` cannot end the
# caller half-way: the group runs with stderr discarded, and `local -` restores
# the caller's options on return. Whole-line comments are dropped from the
# exported text (every bash in the build parses it at start-up).
{
  local __tr_connected=
  # Also only while the toplevel's output descriptors are open here (a binary
  # that finds them closed writes to its own stdout and stderr instead).
  if [[ -n ${_taskrunner_run_port-} && -n ${_taskrunner_run_token-} ]] &&
    (( BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404 )) &&
    : >&"${_taskrunner_toplevel_stdout-60}" && : >&"${_taskrunner_toplevel_stderr-61}"; then
    local - __tr_fd __tr_reply=
    set +eux
    exec {__tr_fd}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port" && __tr_connected=1
  fi
} 2>/dev/null
if [[ -z $__tr_connected ]]; then
  command taskrunner "$@"
  return
fi
{
  printf '%s\0' "$_taskrunner_run_token"
  umask
  ulimit -a
  ulimit -Ha
  printf '\0%s' "$PWD" "$BASH" "$#" "$@"
  printf '\0'
} >&"$__tr_fd"
env -0 >&"$__tr_fd" 2>/dev/null
printf '\0' >&"$__tr_fd"
# A trap that runs while we wait (the script caught a signal) interrupts read: wait on.
while :; do
  IFS= read -r -u "$__tr_fd" __tr_reply && break
  (( $? > 128 )) || break
done
exec {__tr_fd}>&-
case $__tr_reply in
  "exit "[0-9]*) return "${__tr_reply#exit }" ;;
  fallback) command taskrunner "$@" ;;
  *)
    echo "taskrunner: lost the connection to this build's toplevel taskrunner" >&2
    return 1
    ;;
esac
