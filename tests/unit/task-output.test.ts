// A task's output sinks: the runner's messages in our fixed
// format on the terminal (files standing in for the toplevel's streams here)
// and in the log, levels as TASKRUNNER_DEBUG / TASKRUNNER_LOG_INFO say, held
// back in quiet mode.
import { test, expect, afterAll } from "bun:test";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Terminal, TaskOutput } from "../../src/output/output";

const dir = mkdtempSync(join(tmpdir(), "task-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function output(opts: { showDebug?: boolean; showInfo?: boolean; quiet?: boolean } = {}) {
  const files = { stdout: join(dir, `${++n}.out`), stderr: join(dir, `${n}.err`), log: join(dir, `${n}.log`) };
  const out = new TaskOutput({
    job: "job",
    timestamps: false,
    showDebug: opts.showDebug ?? false,
    showInfo: opts.showInfo ?? false,
    quiet: opts.quiet ?? false,
    terminal: new Terminal(openSync(files.stdout, "w"), openSync(files.stderr, "w"), null),
    logFd: openSync(files.log, "w"),
    logPath: files.log,
  });
  const read = (f: keyof typeof files) => readFileSync(files[f], "utf8");
  return { out, read };
}

test("runner messages: [NAME] level | text on the terminal, level | text in the log, one line per line", () => {
  const { out, read } = output();
  out.warn("first\nsecond");
  out.error("third");
  out.lines("stdout", [new TextEncoder().encode("task line")]);
  expect(read("stderr")).toBe("[job] warn | first\n[job] warn | second\n[job] error | third\n");
  expect(read("stdout")).toBe("[job] stdout | task line\n");
  expect(read("log")).toBe("warn | first\nwarn | second\nerror | third\nstdout | task line\n");
});

test("the same message many times in a row: every one arrives (no logger's throttling holds one back)", () => {
  const { out, read } = output();
  for (let i = 0; i < 8; i++) out.warn("Build will continue despite this error, but some output may be lost.");
  expect(read("stderr").split("\n").filter(Boolean)).toHaveLength(8);
  expect(read("log").split("\n").filter(Boolean)).toHaveLength(8);
});

test("debug and info: always in the log, on the terminal only as TASKRUNNER_DEBUG / TASKRUNNER_LOG_INFO say, each on its own", () => {
  for (const [flags, shown] of [
    [{}, []],
    [{ showDebug: true }, ["debug"]],
    [{ showInfo: true }, ["info"]],
    [{ showDebug: true, showInfo: true }, ["debug", "info"]],
  ] as const) {
    const { out, read } = output(flags);
    out.debug("d");
    out.info("i");
    out.message("info", "opted in", { onTerminal: true });
    expect(read("log")).toBe("debug | d\ninfo | i\ninfo | opted in\n");
    expect(read("stderr")).toBe([...shown.map((l) => `[job] ${l} | ${l[0]}\n`), "[job] info | opted in\n"].join(""));
  }
});

test("quiet: terminal lines held back, dropped on success, printed in order on failure; the log as usual", () => {
  const ok = output({ quiet: true });
  ok.out.warn("w");
  ok.out.finish({ kind: "ran" });
  expect(ok.read("stderr")).toBe("");
  expect(ok.read("log")).toBe("warn | w\n");

  const failed = output({ quiet: true });
  failed.out.warn("w");
  failed.out.lines("stdout", [new TextEncoder().encode("o")]);
  failed.out.error("e");
  expect(failed.read("stderr")).toBe("");
  failed.out.finish({ kind: "failed" });
  expect(failed.read("stderr")).toBe("[job] warn | w\n[job] error | e\n");
  expect(failed.read("stdout")).toBe("[job] stdout | o\n");
});

test("a log-only debug line: in the log, never on the terminal, whatever TASKRUNNER_DEBUG says", () => {
  const { out, read } = output({ showDebug: true });
  out.debug("Subtask x logs to /state/builds/b/logs/x.log", true);
  out.debug("shown");
  expect(read("log")).toBe("debug | Subtask x logs to /state/builds/b/logs/x.log\ndebug | shown\n");
  expect(read("stderr")).toBe("[job] debug | shown\n");
});
