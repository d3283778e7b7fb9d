// The pure parts of the output modes and the build summary: workflow-command
// escaping and shielding, the progress area's lines, the summary's cells, total
// line and gantt chart, and the archive's metadata frame.
import { expect, test } from "bun:test";
import { couldHoldCommand, escapeData, escapeProperty, shielded } from "../../src/output/workflow-commands";
import { areaLines } from "../../src/output/progress";
import { humanDuration } from "../../src/output/duration";
import {
  buildSummary,
  cacheCell,
  ganttChart,
  humanBytes,
  summaryMarkdown,
  totalLine,
} from "../../src/trace/step-summary";
import { metaFrame, parseMeta } from "../../src/cache/archive-meta";
import { decompress, decompressWith } from "../../src/cache/zstd-frames";
import type { TaskRecord } from "../../src/trace/record";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (parts: Uint8Array[]) => parts.map((p) => new TextDecoder().decode(p)).join("");

test("escaping as the runner unescapes: data keeps ':' and ',', properties do not", () => {
  expect(escapeData("50% done\r\nnext: a,b")).toBe("50%25 done%0D%0Anext: a,b");
  expect(escapeProperty("taskrunner: a,b")).toBe("taskrunner%3A a%2Cb");
});

test("a batch is shielded only when the runner could read a command in it", () => {
  expect(couldHoldCommand(bytes("[a] stdout | ::error::x\n"))).toBe(false); // prefixed: never at a line's start
  expect(couldHoldCommand(bytes("[a] stdout | x ##[set-env name=a]b\n"))).toBe(true);
  expect(couldHoldCommand(bytes("[a] stdout | x\r::set-env name=a::b\n"))).toBe(true);
  expect(couldHoldCommand(bytes("[a] stdout | # [not] ## [either]\n"))).toBe(false);
  const plain = bytes("[a] stdout | fine\n");
  expect(shielded(plain)).toEqual([plain]);
  const wrapped = text(shielded(bytes("[a] stdout | ##[error]x\n")));
  const token = /^::stop-commands::(taskrunner-[0-9a-f]{32})\n/.exec(wrapped)?.[1];
  expect(token).toBeDefined();
  expect(wrapped).toBe(`::stop-commands::${token}\n[a] stdout | ##[error]x\n::${token}::\n`);
  // A new token each time: a task cannot learn one from an earlier batch.
  expect(text(shielded(bytes("##[\n")))).not.toContain(token!);
});

test("durations and sizes for people", () => {
  expect([0.4, 850, 1234, 12_345, 252_000, 3_900_000].map(humanDuration)).toEqual([
    "0 ms",
    "850 ms",
    "1.23 s",
    "12.3 s",
    "4 m 12 s",
    "1 h 05 m",
  ]);
  expect([999, 1000, 179_000, 12_345_678].map(humanBytes)).toEqual(["999 B", "1.0 kB", "179 kB", "12 MB"]);
});

test("the progress area: running tasks longest first, the build's own task only when alone, clipped to the width", () => {
  const counts = { done: 2, skipped: 1, restored: 0, failed: 0 };
  const running = new Map([
    ["top", 0],
    ["b", 500],
    ["a", 100],
  ]);
  expect(areaLines(running, "top", counts, 1600, 0, 80)).toEqual([
    " ⠋ a  1.50 s",
    " ⠋ b  1.10 s",
    " 2 running · 2 done · 1 skipped · 0 restored · 0 failed",
  ]);
  expect(areaLines(new Map([["top", 0]]), "top", counts, 300, 1, 80)[0]).toBe(" ⠙ top  300 ms");
  const many = new Map(Array.from({ length: 10 }, (_, i) => [`t${i}`, i] as [string, number]));
  expect(areaLines(many, null, counts, 1000, 0, 80).slice(8)).toEqual([
    "   … and 2 more",
    " 10 running · 2 done · 1 skipped · 0 restored · 0 failed",
  ]);
  // One column short of the width: a full-width line would wrap on some terminals and break the redraw.
  expect(areaLines(running, "top", counts, 1600, 0, 20)[2]).toBe(" 2 running · 2 don…");
});

const record = (
  job: string,
  outcome: TaskRecord["outcome"],
  start: number,
  end: number,
  extra: Partial<TaskRecord> = {},
): TaskRecord => ({
  job,
  parent: job === "ci" ? null : "ci",
  pid: 1,
  start,
  end,
  outcome,
  exitCode: outcome === "failed" ? 2 : 0,
  phases: [{ name: "hash", start, end: start }],
  ...extra,
});

test("the summary: cache cells, the total line with and without recorded run times, cells that cannot break the table", () => {
  expect(cacheCell(null)).toBe("—");
  expect(cacheCell({ lookup: "fuzzy", why: "from branch main" })).toBe("fuzzy hit (from branch main)");
  expect(cacheCell({ lookup: "not-tried", why: "forced with -f" })).toBe("not looked up: forced with -f");
  const s = buildSummary("B", [
    record("ci", "ran", 1000, 9000, { phases: [] }),
    record("a|b", "restored-exact", 1100, 1300, { cache: { lookup: "exact", down: 2048, savedMs: 250_000 } }),
    record("old", "restored-exact", 1400, 1500, { cache: { lookup: "exact", down: 10 } }),
    record("t:x", "failed", 2000, 2500, { cache: { lookup: "miss", why: "no archive for this hash" } }),
  ]);
  expect(totalLine(s)).toBe("2 restored, 4 m 10 s saved (1 without a recorded run time)");
  expect(totalLine(buildSummary("B", [record("ci", "ran", 0, 1)]))).toBe("Nothing restored from the cache");
  const md = summaryMarkdown(s);
  expect(md).toContain("| `a\\|b` | ♻️ restored | 200 ms | exact hit | 2.0 kB | — | 4 m 10 s |\n");
  expect(md).toContain("| `old` | ♻️ restored | 100 ms | exact hit | 10 B | — | — |\n");
  expect(md).toContain("| `t:x` | ❌ failed (exit code 2) | 500 ms | miss: no archive for this hash | — | — | — |\n");
  expect(ganttChart(s).split("\n")).toEqual([
    "```mermaid",
    "gantt",
    "    title Build timeline",
    "    dateFormat x",
    "    axisFormat %S.%L s",
    "    section Tasks",
    "    ci (ran) :t0, 0, 8000",
    "    a|b (restored-exact) :active, t1, 100, 300",
    "    old (restored-exact) :active, t2, 400, 500",
    "    t_x (failed) :crit, t3, 1000, 1500",
    "```",
  ]);
});

test("the archive's metadata frame: skipped by the decoder, read back by its hook, ignored when it is not ours", async () => {
  const data = Bun.zstdCompressSync(Buffer.from("tar bytes"));
  const archive = Buffer.concat([data, metaFrame({ runMs: 4321 })]);
  const out: Buffer[] = [];
  for await (const piece of decompress(
    (async function* () {
      yield archive;
    })(),
  ))
    out.push(Buffer.from(piece));
  expect(Buffer.concat(out).toString()).toBe("tar bytes");
  const seen: unknown[] = [];
  const withHook = decompressWith((magic, payload) => seen.push(parseMeta(magic, payload)));
  for await (const _ of withHook(
    (async function* () {
      yield archive;
    })(),
  ))
    void _;
  expect(seen).toEqual([{ runMs: 4321 }]);
  expect(parseMeta(0x184d2a50, Buffer.from('taskrunner archive meta\n{"runMs":1}'))).toBeNull(); // another magic
  expect(parseMeta(0x184d2a5e, Buffer.from("someone else's frame"))).toBeNull();
  // The zstd CLI skips it too (the old tool restores with tar --zstd, which runs zstd -d); checked where it is installed.
  if (!Bun.which("zstd")) return;
  const zstd = Bun.spawnSync(["zstd", "-dc"], { stdin: archive });
  expect({ code: zstd.exitCode, out: zstd.stdout.toString() }).toEqual({ code: 0, out: "tar bytes" });
});
