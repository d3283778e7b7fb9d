#: quiet
echo "this output is held back"
taskrunner -n nested bash -c 'echo "nested output, also held back"'
