#: no toplevel
git init -q && git commit --allow-empty -q -m "Initial commit"
TASKRUNNER_ENABLE_COMMIT_STATUS=1 GITHUB_REPOSITORY=o/r taskrunner -n nocreds bash -e -c 'snapshot -n --commit-status; echo "runs anyway"'
echo "exit code: $?"
TASKRUNNER_ENABLE_COMMIT_STATUS=1 GITHUB_REPOSITORY=o/r GITHUB_APP_ID=1 GITHUB_INSTALLATION_ID=2 GITHUB_APP_PRIVATE_KEY='not a key' taskrunner -n badkey bash -e -c 'snapshot -n --commit-status; echo "runs anyway"'
echo "exit code: $?"
