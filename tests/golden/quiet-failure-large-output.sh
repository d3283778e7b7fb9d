#: quiet
# Enough lines to fill a pipe buffer: held lines must be printed only after the
# task's pipes are drained, or a failing task would report no output at all.
seq 1 5000 | sed 's/^/line /'
exit 1
