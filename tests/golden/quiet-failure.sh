#: quiet
echo "line before failure"
echo "error line" >&2
exit 1
