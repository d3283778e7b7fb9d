# What a nested task gets from its caller: exported variables, a one-command
# assignment, exported functions, the umask and the cwd; not unexported variables.
export EXPORTED="exported value"
UNEXPORTED="private"
greet() { echo "greet from an exported function"; }
export -f greet
mkdir -p sub/dir
cd sub/dir
umask 027
ONE_COMMAND="only here" taskrunner -n env bash -c 'echo "$EXPORTED|${UNEXPORTED-unset}|$ONE_COMMAND|$(umask)|${PWD##*/work}"; greet'
echo "caller still has ONE_COMMAND=${ONE_COMMAND-unset}"
