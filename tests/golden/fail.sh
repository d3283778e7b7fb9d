echo "about to fail"
echo "to stderr" >&2
exit 3
