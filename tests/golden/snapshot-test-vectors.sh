#: check output hash/top.hash hash/nested.hash
git init -q . && mkdir nested && echo foo > input.txt && echo foo > nested/input.txt && git add . && git commit -qm init
taskrunner -n top bash -c 'snapshot input.txt'
(cd nested && taskrunner -n nested bash -c 'snapshot input.txt')
