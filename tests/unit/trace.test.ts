// The build trace: track layout, Chrome trace, HTML page, OTLP payload and
// export (against a local collector), and the writer that ties them together.
import { test, expect, describe } from "bun:test";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Outcome, Phase, TaskRecord } from "../../src/trace/record";
import { layoutBuild, formatDuration } from "../../src/trace/layout";
import { chromeTrace, type CompleteEvent } from "../../src/trace/chrome";
import { traceHtml, axisTicks } from "../../src/trace/html";
import { otlpPayload, exportOtlp, unixNano, traceIdOf } from "../../src/trace/otlp";
import { writeTrace, parseTaskRecord } from "../../src/trace/write";
import { countTasks, summaryLine } from "../../src/trace/summary";
import { startOtlpReceiver } from "../fakes/otlp";

const T0 = 1_760_000_000_000.25; // epoch ms, with a fraction as the runner writes them

function rec(
  job: string,
  parent: string | null,
  start: number,
  end: number,
  more: Partial<TaskRecord> = {},
): TaskRecord {
  return {
    job,
    parent,
    pid: 1000 + job.length,
    start: T0 + start,
    end: T0 + end,
    outcome: "ran",
    exitCode: 0,
    phases: [{ name: "run", start: T0 + start, end: T0 + end }],
    ...more,
  };
}
const phase = (name: Phase["name"], start: number, end: number): Phase => ({ name, start: T0 + start, end: T0 + end });

// ci ─┬─ lint  (parallel with unit)
//     ├─ unit ── unit-db (nested)
//     └─ bundle (after both, failed)
const build: TaskRecord[] = [
  rec("ci", null, 0, 1000, { outcome: "failed", exitCode: 1 }),
  rec("lint", "ci", 10, 400),
  rec("unit", "ci", 20, 600, {
    phases: [phase("hash", 20, 30), phase("run", 30, 580), phase("upload", 580, 600)],
    explain: ["src/a.ts changed"],
  }),
  rec("unit-db", "unit", 100, 200, { outcome: "skipped", phases: [] }),
  rec("bundle", "ci", 610, 990, { outcome: "failed", exitCode: 2 }),
];

const where = (records: TaskRecord[]) => {
  const layout = layoutBuild(records);
  return Object.fromEntries(layout.tasks.map((t) => [t.record.job, [t.track, t.depth]]));
};

describe("track layout", () => {
  test("a nested task sits inside its parent on the parent's track", () => {
    expect(where([rec("a", null, 0, 100), rec("b", "a", 10, 50)])).toEqual({ a: [0, 0], b: [0, 1] });
  });
  test("parallel siblings: the second one gets its own track, next to the parent's", () => {
    const w = where(build);
    expect(w.ci).toEqual([0, 0]);
    expect(w.lint).toEqual([0, 1]);
    expect(w.unit).toEqual([1, 0]);
    expect(w["unit-db"]).toEqual([1, 1]);
    expect(w.bundle).toEqual([0, 1]); // lint is over: back on the parent's track
    expect(layoutBuild(build).tracks.map((t) => t.name)).toEqual(["ci", "unit"]);
  });
  test("deep nesting stays on one track", () => {
    const chain = ["a", "b", "c", "d", "e"].map((job, i, all) =>
      rec(job, i ? all[i - 1] : null, i * 10, 1000 - i * 10),
    );
    expect(Object.values(where(chain))).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
    ]);
    expect(layoutBuild(chain).tracks).toEqual([{ tid: 1, name: "a", lanes: 5 }]);
  });
  test("a sibling's track is reused once it is free; tracks follow their parents' order", () => {
    const recs = [
      rec("top", null, 0, 1000),
      rec("p1", "top", 0, 500),
      rec("p2", "top", 0, 500),
      rec("p3", "top", 0, 300),
      rec("p4", "top", 310, 480), // p3's track is free again
      rec("p2child", "p2", 100, 200),
      rec("p2child2", "p2", 150, 250), // parallel inside p2
    ];
    const layout = layoutBuild(recs);
    expect(where(recs)).toEqual({
      top: [0, 0],
      p1: [0, 1],
      p2: [1, 0],
      p2child: [1, 1],
      p2child2: [2, 0],
      p3: [3, 0],
      p4: [3, 0],
    });
    expect(layout.tracks.map((t) => t.name)).toEqual(["top", "p2", "p2child2", "p3, p4"]);
  });
  test("a child outliving its parent, a missing parent, and an unrelated track are never mixed up", () => {
    const recs = [
      rec("a", null, 0, 100),
      rec("late", "a", 50, 150),
      rec("lost", "gone", 10, 20),
      rec("self", "self", 200, 210),
    ];
    const w = where(recs);
    expect(w.late[0]).not.toBe(w.a[0]); // would straddle a's end on a's track
    expect(w.lost[1]).toBe(0); // a root
    expect(w.lost[0]).not.toBe(w.a[0]); // not drawn as if a's child
    expect(w.self[1]).toBe(0);
  });
  test("a zero-length task at its parent's start or end is inside it", () => {
    const recs = [rec("a", null, 0, 100), rec("b", "a", 0, 0, { phases: [] }), rec("c", "a", 100, 100, { phases: [] })];
    expect(where(recs)).toEqual({ a: [0, 0], b: [0, 1], c: [0, 1] });
  });
  test("phases are clamped into their task and made disjoint", () => {
    const r = rec("x", null, 0, 100, { phases: [phase("run", 40, 120), phase("hash", -5, 50)] });
    expect(layoutBuild([r]).tasks[0].phases).toEqual([
      { name: "hash", start: 0, end: 50 },
      { name: "run", start: 50, end: 100 },
    ]);
  });
  test("no records", () => {
    expect(layoutBuild([])).toEqual({ origin: 0, span: 0, tasks: [], tracks: [] });
  });
});

/** On one tid, every two slices are nested or disjoint; every X event is well formed. */
function checkChrome(records: TaskRecord[]) {
  const trace = chromeTrace("b", records);
  const xs = trace.traceEvents.filter((e): e is CompleteEvent => e.ph === "X");
  for (const e of xs) {
    for (const k of ["ts", "dur", "pid", "tid"] as const) expect(Number.isFinite(e[k])).toBe(true);
    expect(e.name.length).toBeGreaterThan(0);
    expect(e.dur).toBeGreaterThanOrEqual(0);
    expect(e.ts).toBeGreaterThanOrEqual(0);
  }
  for (const a of xs)
    for (const b of xs) {
      if (a === b || a.tid !== b.tid) continue;
      const disjoint = a.ts + a.dur <= b.ts || b.ts + b.dur <= a.ts;
      const nested = (a.ts <= b.ts && b.ts + b.dur <= a.ts + a.dur) || (b.ts <= a.ts && a.ts + a.dur <= b.ts + b.dur);
      if (!disjoint && !nested) throw new Error(`${a.name} and ${b.name} straddle on tid ${a.tid}`);
    }
  expect(xs.filter((e) => e.cat === "task").length).toBe(records.length);
  return { trace, xs };
}

describe("run summary", () => {
  const counts = (records: TaskRecord[]) => {
    const c = countTasks(records);
    return [c.tasks, c.ran, c.skipped, c.restored, c.failed];
  };
  test("a toplevel that only ran nested tasks is not counted; one that hashed its own inputs is", () => {
    // ci failed because bundle did: bundle's failure is counted, ci's is not; unit ran nested
    // unit-db but hashed its own inputs, so it counts.
    expect(summaryLine(build, 4210)).toBe("Summary: 4 tasks: 2 ran, 1 skipped, 0 restored, 1 failed; wall time 4.21s");
    const allSkipped = [
      rec("ci", null, 0, 100),
      rec("a", "ci", 0, 10, { outcome: "skipped" }),
      rec("b", "ci", 10, 20, { outcome: "skipped" }),
    ];
    expect(counts(allSkipped)).toEqual([2, 0, 2, 0, 0]);
  });
  test("a task that only ran others counts when it failed by itself", () => {
    const records = [
      rec("ci", null, 0, 100, { outcome: "failed", exitCode: 3 }),
      rec("a", "ci", 0, 10),
      rec("b", "ci", 10, 20, { outcome: "skipped" }),
    ];
    expect(counts(records)).toEqual([3, 1, 1, 0, 1]);
    records[0].outcome = "interrupted";
    expect(counts(records)).toEqual([3, 1, 1, 0, 1]);
  });
  test("a fuzzy restore followed by a run counts as ran; an exact restore as restored", () => {
    const hashed = { phases: [phase("hash", 0, 1), phase("restore", 1, 5)] };
    const records = [
      rec("ci", null, 0, 100),
      rec("fuzzy", "ci", 0, 50, { outcome: "restored-fuzzy", ...hashed }),
      rec("exact", "ci", 50, 60, { outcome: "restored-exact", ...hashed }),
    ];
    expect(counts(records)).toEqual([2, 1, 0, 1, 0]);
  });
  test("a lone task is one task, whatever it did", () => {
    expect(summaryLine([rec("x", null, 0, 1)], 12)).toBe(
      "Summary: 1 task: 1 ran, 0 skipped, 0 restored, 0 failed; wall time 0.01s",
    );
    expect(summaryLine([], 0)).toBe("Summary: 0 tasks: 0 ran, 0 skipped, 0 restored, 0 failed; wall time 0.00s");
  });
  test("the trace files carry the same counts", () => {
    expect(chromeTrace("b", build).otherData.summary).toBe("4 tasks: 2 ran, 1 skipped, 0 restored, 1 failed");
    expect(traceHtml("b", build)).toContain(
      `<p class="summary">4 tasks: 2 ran, 1 skipped, 0 restored, 1 failed · wall time 1.00 s`,
    );
  });
});

describe("Chrome trace", () => {
  test("shape: metadata, one slice per task, phases inside, µs from the build start", () => {
    const { trace, xs } = checkChrome(build);
    expect(trace.displayTimeUnit).toBe("ms");
    expect(trace.otherData.buildId).toBe("b");
    const meta = trace.traceEvents.filter((e) => e.ph === "M");
    expect(meta[0]).toEqual({ ph: "M", name: "process_name", pid: 1, tid: 0, args: { name: "taskrunner build b" } });
    expect(meta.filter((e) => e.name === "thread_name").map((e) => e.args)).toEqual([{ name: "ci" }, { name: "unit" }]);
    const unit = xs.find((e) => e.name === "unit" && e.cat === "task")!;
    expect(unit).toMatchObject({
      ts: 20_000,
      dur: 580_000,
      pid: 1,
      tid: 2,
      args: { outcome: "ran", exitCode: 0, parent: "ci", explain: ["src/a.ts changed"] },
    });
    const ci = xs.find((e) => e.name === "ci")!;
    expect(ci).toMatchObject({
      ts: 0,
      dur: 1_000_000,
      tid: 1,
      args: { outcome: "failed", exitCode: 1 },
      cname: "terrible",
    });
    const unitPhases = xs.filter((e) => e.cat === "phase" && e.args.job === "unit").map((e) => [e.name, e.tid]);
    expect(unitPhases).toEqual([
      ["hash", 2],
      ["run", 2],
      ["upload", 2],
    ]);
    // A nested task lies inside its parent on the same track.
    const db = xs.find((e) => e.name === "unit-db")!;
    expect(db.tid).toBe(unit.tid);
    expect(db.ts >= unit.ts && db.ts + db.dur <= unit.ts + unit.dur).toBe(true);
    // Parents come before what they contain, so importers nest equal slices right.
    expect(xs.indexOf(ci)).toBeLessThan(xs.findIndex((e) => e.name === "run" && e.args.job === "ci"));
  });
  test("random builds always nest properly on every track", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 40; round++) {
      const recs: TaskRecord[] = [rec("root", null, 0, 10_000)];
      for (let i = 0; i < 25; i++) {
        const parent = recs[Math.floor(rand() * recs.length)];
        const ps = parent.start - T0,
          pe = parent.end - T0;
        const start = ps + rand() * (pe - ps);
        // Mostly inside the parent, sometimes outliving it (an orphaned task).
        const roll = rand();
        const end = roll < 0.1 ? start : roll < 0.9 ? start + rand() * (pe - start) : start + rand() * 5000;
        const mid = start + (end - start) * rand();
        recs.push(
          rec(`t${i}`, parent.job, start, end, { phases: [phase("hash", start, mid), phase("run", mid, end)] }),
        );
      }
      checkChrome(recs);
      // The HTML rows: two bars in the same lane of a track never overlap.
      const { tasks } = layoutBuild(recs);
      for (const a of tasks)
        for (const b of tasks)
          if (a !== b && a.track === b.track && a.depth === b.depth)
            expect(a.end <= b.start || b.end <= a.start).toBe(true);
    }
  });
});

describe("HTML page", () => {
  const nasty = `<img src=x onerror=alert(1)> & "q" 'a' </script>`;
  const html = traceHtml("2026-01-01T00:00:00.000000Z", [
    ...build,
    rec(nasty, "ci", 700, 800, { explain: ["</script><b>x</b>"] }),
  ]);
  test("one bar per task, on the network for nothing", () => {
    expect(html.match(/class="task-bar"/g)!.length).toBe(build.length + 1);
    const plain = traceHtml("b", build); // without the nasty name, which says src= itself
    expect(plain).not.toMatch(/https?:\/\//);
    expect(plain).not.toMatch(/\s(src|href|action|poster|srcset)\s*=/i);
    expect(plain).not.toMatch(/@import|url\(/i);
    expect(plain).toContain(`Content-Security-Policy" content="default-src 'none'`);
  });
  test("job names and explain lines are escaped everywhere", () => {
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>x");
    expect(html.match(/<\/script>/g)!.length).toBe(2); // only the page's own two scripts
    expect(html).toContain(
      `data-job="&#60;img src=x onerror=alert(1)&#62; &#38; &#34;q&#34; &#39;a&#39; &#60;/script&#62;"`,
    );
    const json = html.match(/<script type="application\/json" id="trace-data">(.*?)<\/script>/s)![1];
    const data = JSON.parse(json);
    expect(data.tasks.map((t: { job: string }) => t.job)).toContain(nasty);
  });
  test("legend counts outcomes; bars carry their colour and phases", () => {
    expect(html).toContain(`failed <em>2</em>`);
    expect(html).toContain(`--c:#ef4444`);
    expect(html).toContain(`class="phase p-upload"`);
    expect(traceHtml("b", [])).toContain("No task records in this build.");
  });
  test("axis ticks are round numbers", () => {
    expect(axisTicks(1000).map((t) => t.label)).toEqual([
      "0",
      "0.1 s",
      "0.2 s",
      "0.3 s",
      "0.4 s",
      "0.5 s",
      "0.6 s",
      "0.7 s",
      "0.8 s",
      "0.9 s",
      "1 s",
    ]);
    expect(axisTicks(14_200).map((t) => t.label)).toEqual(["0", "2 s", "4 s", "6 s", "8 s", "10 s", "12 s", "14 s"]);
    expect(
      axisTicks(300)
        .map((t) => t.label)
        .slice(0, 3),
    ).toEqual(["0", "50 ms", "100 ms"]);
    expect(
      axisTicks(600_000)
        .map((t) => t.label)
        .slice(0, 3),
    ).toEqual(["0", "1m", "2m"]);
    expect(axisTicks(0.5).length).toBeGreaterThan(1);
  });
  test("durations for people", () => {
    expect([0.25, 12.4, 999, 1234, 12_345, 185_000, 7_500_000].map(formatDuration)).toEqual([
      "0.25 ms",
      "12 ms",
      "999 ms",
      "1.23 s",
      "12.3 s",
      "3m 05s",
      "2h 05m",
    ]);
  });
});

describe("OTLP payload", () => {
  const payload = otlpPayload("build-1", build);
  const spans = payload.resourceSpans[0].scopeSpans[0].spans;
  const byName = (name: string) =>
    spans.find((s) => s.name === name && s.attributes.some((a) => a.key === "taskrunner.outcome"))!;
  test("ids: one trace per build, derived from the id; one span per task and phase", () => {
    expect(traceIdOf("build-1")).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf("build-1")).not.toBe(traceIdOf("build-2"));
    expect(otlpPayload("build-1", build)).toEqual(payload); // deterministic
    for (const s of spans) {
      expect(s.traceId).toBe(traceIdOf("build-1"));
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(s.startTimeUnixNano).toMatch(/^\d+$/);
      expect(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano)).toBe(true);
    }
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    expect(spans.length).toBe(build.length + build.reduce((n, r) => n + r.phases.length, 0));
    expect(payload.resourceSpans[0].resource.attributes).toContainEqual({
      key: "service.name",
      value: { stringValue: "taskrunner" },
    });
  });
  test("parent links: nested tasks to their parent's span, phases to their task", () => {
    expect(byName("ci").parentSpanId).toBeUndefined();
    expect(byName("unit").parentSpanId).toBe(byName("ci").spanId);
    expect(byName("unit-db").parentSpanId).toBe(byName("unit").spanId);
    const unitPhases = spans.filter(
      (s) => s.attributes.some((a) => a.key === "taskrunner.phase") && s.parentSpanId === byName("unit").spanId,
    );
    expect(unitPhases.map((s) => s.name)).toEqual(["hash", "run", "upload"]);
    // A parent without a record: the span stays a root instead of dangling.
    const lost = otlpPayload("b", [rec("lost", "gone", 0, 1)]).resourceSpans[0].scopeSpans[0].spans[0];
    expect(lost.parentSpanId).toBeUndefined();
  });
  test("attributes, status and times", () => {
    const bundle = byName("bundle");
    expect(bundle.attributes).toContainEqual({ key: "taskrunner.outcome", value: { stringValue: "failed" } });
    expect(bundle.attributes).toContainEqual({ key: "taskrunner.exit_code", value: { intValue: "2" } });
    expect(bundle.status).toEqual({ code: 2, message: "exit code 2" });
    expect(byName("lint").status.code).toBe(0);
    expect(byName("ci").startTimeUnixNano).toBe("1760000000000250000");
    // 2^53 ns is only 104 days: the fraction must survive the conversion.
    expect(unixNano(1_760_000_000_123.5)).toBe("1760000000123500000");
    expect(unixNano(1_760_000_000_123.0625)).toBe("1760000000123062500");
  });
});

describe("OTLP export against a local collector", () => {
  test("POSTs the payload as JSON to <endpoint>/v1/traces", async () => {
    const rx = startOtlpReceiver();
    try {
      const payload = otlpPayload("b", build);
      expect(await exportOtlp(`${rx.url}/`, payload)).toBeNull();
      expect(rx.requests).toHaveLength(1);
      expect(rx.requests[0]).toMatchObject({ method: "POST", path: "/v1/traces", contentType: "application/json" });
      expect(rx.requests[0].body).toEqual(JSON.parse(JSON.stringify(payload)));
    } finally {
      await rx.stop();
    }
  });
  test("an error status and a partial rejection come back as one line", async () => {
    const bad = startOtlpReceiver({ kind: "status", status: 503, body: "overloaded\ntry later" });
    const partial = startOtlpReceiver({ kind: "partial", rejected: 2, message: "too old" });
    try {
      expect(await exportOtlp(bad.url, otlpPayload("b", build))).toBe(
        "HTTP 503 Service Unavailable: overloaded try later",
      );
      expect(await exportOtlp(partial.url, otlpPayload("b", build))).toBe("collector rejected 2 span(s): too old");
    } finally {
      await bad.stop();
      await partial.stop();
    }
  });
  test("a collector that never answers: an error within the timeout", async () => {
    const rx = startOtlpReceiver({ kind: "hang" });
    try {
      const t = performance.now();
      const err = await exportOtlp(rx.url, otlpPayload("b", build), 300);
      expect(performance.now() - t).toBeLessThan(2000);
      expect(err).toBe(`no answer from ${rx.url}/v1/traces within 300 ms`);
      expect(rx.requests).toHaveLength(1);
    } finally {
      await rx.stop();
    }
  });
  test("nobody listening, or no URL at all: an error, not an exception", async () => {
    const rx = startOtlpReceiver();
    await rx.stop();
    expect(await exportOtlp(rx.url, otlpPayload("b", []), 2000)).toStartWith(`${rx.url}/v1/traces: `);
    expect(await exportOtlp("not a url", otlpPayload("b", []), 2000)).toBeString();
  });
});

describe("writeTrace", () => {
  const setUp = () => {
    const dir = mkdtempSync(join(tmpdir(), "trace-"));
    mkdirSync(join(dir, "tasks"));
    for (const r of build) writeFileSync(join(dir, "tasks", `${r.job}.json`), JSON.stringify(r));
    writeFileSync(join(dir, "tasks", "torn.json"), '{"job":"torn","par');
    writeFileSync(join(dir, "tasks", "odd.json"), JSON.stringify({ ...build[1], job: "odd", outcome: "exploded" }));
    return dir;
  };
  test("writes trace.json, trace.html and the copy; reports unreadable records", async () => {
    const dir = setUp();
    const rx = startOtlpReceiver();
    try {
      const copy = join(dir, "out", "ci-trace.json");
      const warnings = await writeTrace(dir, "b1", { traceFile: copy, otlpEndpoint: rx.url });
      expect(warnings).toEqual([
        'Trace: left out tasks/odd.json: unknown outcome "exploded"',
        expect.stringMatching(/^Trace: left out tasks\/torn\.json: not JSON/),
      ]);
      const trace = JSON.parse(readFileSync(join(dir, "trace.json"), "utf8"));
      expect(trace.traceEvents.filter((e: CompleteEvent) => e.cat === "task")).toHaveLength(build.length);
      expect(readFileSync(copy, "utf8")).toBe(readFileSync(join(dir, "trace.json"), "utf8"));
      expect(readFileSync(join(dir, "trace.html"), "utf8")).toContain('data-job="unit-db"');
      expect(rx.requests).toHaveLength(1);
    } finally {
      await rx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("an OTLP failure and an unwritable copy are warnings; the build's files are still written", async () => {
    const dir = setUp();
    rmSync(join(dir, "tasks", "torn.json"));
    rmSync(join(dir, "tasks", "odd.json"));
    const rx = startOtlpReceiver({ kind: "status", status: 500, body: "" });
    try {
      writeFileSync(join(dir, "file"), "");
      const warnings = await writeTrace(dir, "b1", { traceFile: join(dir, "file", "x.json"), otlpEndpoint: rx.url });
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toStartWith(`Could not write the trace to ${join(dir, "file", "x.json")}: `);
      expect(warnings[1]).toBe(`OTLP export to ${rx.url} failed: HTTP 500 Internal Server Error`);
      expect(existsSync(join(dir, "trace.html"))).toBe(true);
    } finally {
      await rx.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("a build without records still gets an (empty) trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trace-"));
    try {
      expect(await writeTrace(dir, "b", { traceFile: null, otlpEndpoint: null })).toEqual([]);
      expect(JSON.parse(readFileSync(join(dir, "trace.json"), "utf8")).otherData.tasks).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("record validation", () => {
    const good = JSON.stringify(build[2]);
    expect(parseTaskRecord(good)).toEqual(build[2]);
    const outcome: Outcome = "restored-fuzzy";
    expect(parseTaskRecord(JSON.stringify({ ...build[0], outcome }))).toMatchObject({ outcome });
    expect(parseTaskRecord(JSON.stringify({ ...build[0], phases: [{ name: "dance", start: 1, end: 2 }] }))).toStartWith(
      "bad phase",
    );
    expect(parseTaskRecord(JSON.stringify({ ...build[0], start: "soon" }))).toBe("bad pid, start, end or exitCode");
    expect(parseTaskRecord(JSON.stringify({ ...build[0], explain: [1] }))).toBe("bad explain");
    expect(parseTaskRecord("[]")).toBe("no job name");
  });
});
