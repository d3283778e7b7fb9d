#: check output logs/toplevel.log
#: env TASKRUNNER_DEBUG=1
snapshot --raw 'spaces  and "quotes"' --raw 'back\slash' --raw $'new\nline' --raw 'ünïcödé ✓' --raw $'tab\tand\x01ctl' --raw "\$(not expanded)"
echo "body ran"
