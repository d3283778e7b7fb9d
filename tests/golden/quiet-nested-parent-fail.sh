#: quiet
echo "Toplevel output"
taskrunner -n nested sh -c 'echo "Nested output that succeeds"'
echo "Toplevel fails now"
exit 1
