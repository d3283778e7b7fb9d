#: check logs/toplevel.log
taskrunner -n child true
taskrunner -n child true
