#: no toplevel
#: check output hash/moved.hash
# A cd in the script does not change where snapshot looks: relative paths are taken from the
# directory the task started in (the hash file shows the top input.txt was hashed, not
# sub/input.txt), and one warning names both directories.
git init -q . && mkdir sub && echo top > input.txt && echo nested > sub/input.txt && ln -s . here && git add . && git commit -qm init
taskrunner -n moved bash -c 'cd sub && snapshot input.txt && echo "ran in $PWD"'
taskrunner -n moved-output bash -c 'cd sub && snapshot --raw x -o out && mkdir -p ../out && echo ran'
echo "-- no warning: only absolute paths, no paths, back in the start directory, or the start directory by another name"
taskrunner -n absolute bash -c 'cd sub && snapshot --raw x -o "$1/out" && mkdir -p "$1/out" && echo ran' x "$PWD"
taskrunner -n raw bash -c 'cd sub && snapshot --raw x && echo ran'
taskrunner -n back bash -c 'cd sub && cd .. && snapshot input.txt && echo ran'
taskrunner -n symlinked bash -c 'cd here && snapshot input.txt && echo "ran in $PWD"'
echo "-- the same for a nested task (served by its toplevel, or a process of its own)"
taskrunner -n outer bash -c 'taskrunner -n moved-nested bash -c "cd sub && snapshot input.txt && echo ran"'
