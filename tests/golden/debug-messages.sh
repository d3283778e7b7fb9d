# check output logs/toplevel.log
# env TASKRUNNER_DEBUG=1
taskrunner -n child true
taskrunner -n child true
