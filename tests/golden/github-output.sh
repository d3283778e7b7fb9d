#: no toplevel
#: cache fs
#: env TASKRUNNER_SAVE_REMOTE_CACHE=1
# TASKRUNNER_OUTPUT=github in a GitHub Actions step: a group per task, a failure outside any group
# with its annotation, the task's own "::" and "##[" lines shielded, the job summary. Durations
# and the stop-commands token vary, so they are masked here.
git init -q . && echo foo > input.txt && echo out/ > .gitignore && git add . && git commit -qm init
taskrunner -n skip bash -c 'snapshot input.txt' && taskrunner -n rest bash -c 'snapshot input.txt -o out; mkdir -p out; echo made > out/file'
echo "-- another machine: rest is restored, skip is skipped"
rm -r out "$TASKRUNNER_STATE_DIRECTORY/hash/rest.hash"
export TASKRUNNER_OUTPUT=github GITHUB_ACTIONS=true GITHUB_STEP_SUMMARY=$PWD/../step-summary.md
taskrunner -n top bash -c '
taskrunner -n ok bash -c "echo built"
taskrunner -n skip bash -c "snapshot input.txt; echo never shown"
taskrunner -n rest bash -c "snapshot input.txt -o out; echo never shown"
taskrunner -n bad bash -c "echo ::error::x; echo ::set-env name=x::y; echo \"z ##[set-env name=q]v\"; exit 3"
echo top done' | sed -E 's/ in [0-9.]+ (ms|s)$/ in <T>/; s/taskrunner-[0-9a-f]{32}/<token>/g'
echo "-- the job summary's rows (task, outcome, cache, time saved)"
grep '^| `' ../step-summary.md | cut -d'|' -f2,3,5,8 | sed -E 's/[0-9.]+ (ms|s) $/<T>/'
grep -o '^\*\*[^*]*\*\*' ../step-summary.md | sed -E 's/[0-9.]+ (ms|s) saved/<T> saved/'
sed -n '/^```mermaid/,/^```$/p' ../step-summary.md | sed -E 's/ [0-9]+, [0-9]+$/ <start>, <end>/'
echo "-- nothing to do: nothing new"
taskrunner -n top2 bash -c 'taskrunner -n skip bash -c "snapshot input.txt; echo never shown"'
