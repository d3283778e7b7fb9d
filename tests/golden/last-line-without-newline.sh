#: check output logs/toplevel.log
printf 'first line\nno newline at the end'
