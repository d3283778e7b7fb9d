# Nested calls with another HOME, another (or a relative) state directory or settings that
# do not parse behave as they always did.
HOME="$PWD/home" taskrunner -n other-home bash -c 'echo "home ${HOME##*/}"'
TASKRUNNER_STATE_DIRECTORY="$PWD/other-state" taskrunner -n other-state bash -c 'echo "state elsewhere"'
sh -c 'taskrunner -n from-sh echo "from sh"'
mkdir sub && (cd sub && TASKRUNNER_STATE_DIRECTORY=relative-state taskrunner -n relative echo "relative state")
# From here on, only lines of this script: one stream, so they cannot race.
ls other-state/builds/*/logs sub/relative-state/builds/*/logs >&2
TASKRUNNER_OUTPUT_STREAM_TIMEOUT=soon taskrunner -n bad-setting echo never || echo "bad setting: $?" >&2
taskrunner --bad-option echo x || echo "bad option: $?" >&2
