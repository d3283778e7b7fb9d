#: env TASKRUNNER_LOG_INFO=1
taskrunner -n plain bash -c 'snapshot -o out --long-running --unskippable; echo "always runs"'
taskrunner -n plain2 bash -c 'snapshot; echo "always runs too"'
