mkdir -p scripts
printf '#!/bin/sh\necho "from the script"\n' > scripts/build.sh
chmod +x scripts/build.sh
taskrunner ./scripts/build.sh
taskrunner -n x bash -c 'echo -f --name "$@"' -- one two
