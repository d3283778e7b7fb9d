# A nested task's post-unpack command runs as the task does: with its caller's
# umask, cwd and environment, whether the task is served inside the toplevel
# or runs in a taskrunner process of its own.
git init -q . && echo input > input.txt
mkdir sub
cd sub
umask 077
export FROM_CALLER="caller's value"
taskrunner -n gen bash -c 'snapshot --raw v -o out --cmd "touch made-by-post-unpack; echo \"post-unpack in ${PWD##*/work}, umask \$(umask), \$FROM_CALLER\""; mkdir -p out'
stat -c '%a %n' made-by-post-unpack
