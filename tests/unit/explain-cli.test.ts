// `taskrunner --explain NAME` reads the newest record of NAME that is a record.
import { test, expect, afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explainLatest } from "../../src/trace/explain";

const state = mkdtempSync(join(tmpdir(), "explain-"));
afterAll(() => rmSync(state, { recursive: true, force: true }));

function record(build: string, text: string) {
  mkdirSync(join(state, "builds", build, "tasks"), { recursive: true });
  writeFileSync(join(state, "builds", build, "tasks", "t.json"), text);
}

test("a damaged newest record is passed over for the newest good one", async () => {
  const good = {
    job: "t",
    parent: null,
    pid: 1,
    start: 0,
    end: 1500,
    outcome: "ran",
    exitCode: 0,
    phases: [],
    explain: ["file src/a.txt modified"],
  };
  record("2026-11-28T10:00:00.000000Z", JSON.stringify(good));
  record("2026-11-28T11:00:00.000000Z", JSON.stringify({ ...good, outcome: "exploded" }));
  record("2026-11-28T12:00:00.000000Z", "{ not json");
  expect(await explainLatest(state, "t")).toEqual({
    ok: true,
    text: "t ran in build 2026-11-28T10:00:00.000000Z (exit code 0, 1.50s)\nIt did not skip because:\n  - file src/a.txt modified",
  });
});
