// A task's life (src/outcome.ts): the moves the runner may make, and the one
// outcome value the trace, the summary and the output read at its end.
import { test, expect } from "bun:test";
import { TaskLife, TRANSITIONS, type TaskState } from "../../src/outcome";

function lifeThrough(...states: TaskState[]): TaskLife {
  const life = new TaskLife("job", "parent");
  for (const s of states) life.enter(s);
  return life;
}

test("a task that ran, skipped, restored: the outcome says how it got its outputs, or that it failed", () => {
  const ran = lifeThrough("starting", "running", "saving", "recording", "reporting");
  expect(ran.finish(0)).toEqual({ job: "job", parent: "parent", kind: "ran", exitCode: 0 });
  const skipped = lifeThrough("starting", "running");
  skipped.satisfiedBy("skipped");
  skipped.explain(["inputs changed"]);
  skipped.note(["Remote cache not used"]);
  for (const s of ["saving", "recording", "reporting"] as const) skipped.enter(s);
  expect(skipped.finish(0)).toEqual({
    job: "job",
    parent: "parent",
    kind: "skipped",
    exitCode: 0,
    explain: ["inputs changed"],
    notes: ["Remote cache not used"],
  });
  const fuzzy = lifeThrough("starting", "running");
  fuzzy.satisfiedBy("restored-fuzzy");
  for (const s of ["saving", "recording", "reporting"] as const) fuzzy.enter(s);
  expect(fuzzy.finish(2).kind).toBe("failed");
});

test("a signal: stopped from any state before recording, and the outcome is interrupted whatever the exit code", () => {
  for (const from of [["starting"], ["starting", "running"], ["starting", "running", "saving"]] as TaskState[][]) {
    const life = lifeThrough(...from, "stopped");
    expect(life.finish(0).kind).toBe("interrupted");
    expect(life.state).toBe("done");
  }
});

test("a move the table does not list, or a step in another state, is refused: a bug, said with both states", () => {
  expect(() => lifeThrough("running")).toThrow("task job: no move from locking to running");
  expect(() => lifeThrough("starting", "running", "recording")).toThrow("no move from running to recording");
  // Recorded: a signal no longer stops it, the result stands.
  expect(TRANSITIONS.recording).toEqual(["reporting"]);
  expect(() => lifeThrough("starting", "running", "saving", "recording", "stopped")).toThrow();
  const life = lifeThrough("starting");
  expect(() => life.satisfiedBy("skipped")).toThrow("task job: expected to be running, is starting");
  expect(() => lifeThrough("starting", "running", "saving", "recording", "reporting", "done").finish(0)).toThrow(
    "no move from done to done",
  );
});
