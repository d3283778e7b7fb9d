# A nested taskrunner under `set -eux`: the trace shows the call and nothing of
# how it is made, the options hold afterwards, and a failing nested task still
# stops the script.
set -u
set -x
taskrunner -n traced true
echo "options after: $-" >&2
set +x
taskrunner -n stops bash -c 'exit 3'
echo "not reached"
