// `taskrunner --explain NAME` on the compiled binary: NAME is a task name by
// the rule -n NAME follows, so it cannot read outside the state directory; and
// a bad setting gets the same one-line usage error, exit 2, as a task gets.
import { test, expect, beforeAll } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { endedText, scratch, taskrunner } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

const USAGE = "usage: taskrunner [-n NAME] [-f] CMD [ARGS...] (see --help)";

test("a name that climbs out of the state directory is refused, and a record planted outside is never read", async () => {
  const s = scratch("explain-name");
  try {
    // A record outside the state directory, where ../../../../outside/evil from builds/<id>/tasks/ leads.
    const good = {
      job: "evil",
      parent: null,
      pid: 1,
      start: 0,
      end: 1000,
      outcome: "ran",
      exitCode: 0,
      phases: [],
      explain: ["PLANTED"],
    };
    mkdirSync(join(s.dir, "state", "builds", "2026-01-01T00:00:00.000000Z", "tasks"), { recursive: true });
    mkdirSync(join(s.dir, "outside"), { recursive: true });
    writeFileSync(join(s.dir, "outside", "evil.json"), JSON.stringify(good));
    for (const [spelling, name] of [
      [["--explain", "../../../../outside/evil"], "../../../../outside/evil"],
      [["--explain=../../../../outside/evil"], "../../../../outside/evil"],
      [["--explain", "../../../../../etc/passwd"], "../../../../../etc/passwd"],
    ] as const) {
      const r = await endedText(taskrunner(s, [...spelling]));
      expect(r).toEqual({
        code: 2,
        stdout: "",
        stderr: `taskrunner: invalid task name ${JSON.stringify(name)}: it names a file, so it cannot contain "/" or newlines; ${USAGE}\n`,
      });
    }
    for (const name of ["..", "."]) {
      const r = await endedText(taskrunner(s, ["--explain", name]));
      expect(r).toEqual({
        code: 2,
        stdout: "",
        stderr: `taskrunner: invalid task name ${JSON.stringify(name)}; ${USAGE}\n`,
      });
    }
  } finally {
    s.cleanup();
  }
});

test("a bad setting: the same one-line error and exit 2 for --explain as for a task", async () => {
  const s = scratch("explain-name");
  try {
    const bad = { TASKRUNNER_KEEP_BUILDS_DAYS: "x" };
    const line = 'taskrunner: TASKRUNNER_KEEP_BUILDS_DAYS="x" is not valid: expected a number of days, e.g. 7\n';
    expect(await endedText(taskrunner(s, ["--explain", "t"], bad))).toEqual({ code: 2, stdout: "", stderr: line });
    expect(await endedText(taskrunner(s, ["-n", "t", "true"], bad))).toEqual({ code: 2, stdout: "", stderr: line });
  } finally {
    s.cleanup();
  }
});
