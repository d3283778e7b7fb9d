// A real build writes its trace: trace.json (Chrome trace events), trace.html,
// the TASKRUNNER_TRACE_FILE copy, and spans to an OTLP/HTTP endpoint.
import { test, expect, beforeAll } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { scratch, runToEnd } from "./helpers/run";
import { startOtlpReceiver } from "./fakes/otlp";

beforeAll(ensureBinary, 120_000);

test("every build writes trace.json and trace.html; the copy and the OTLP export when asked", async () => {
  const s = scratch("trace");
  const otlp = startOtlpReceiver();
  try {
    const script = `taskrunner -n left bash -c 'sleep 0.1' & taskrunner -n right bash -c 'sleep 0.1' & wait
      taskrunner -n broken false || true
      taskrunner -n deps bash -c 'taskrunner -n leaf true'`;
    const copy = join(s.dir, "artifacts", "trace.json");
    const r = await runToEnd(s, ["-n", "ci", "bash", "-c", script], {
      TASKRUNNER_TRACE_FILE: copy,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("warn");
    const builds = join(s.dir, "state", "builds");
    const build = join(builds, readdirSync(builds)[0]);
    const trace = JSON.parse(readFileSync(join(build, "trace.json"), "utf8"));
    const slices = trace.traceEvents.filter((e: { ph: string; cat: string }) => e.ph === "X" && e.cat === "task");
    const byName = Object.fromEntries(
      slices.map((e: { name: string; args: { outcome: string } }) => [e.name, e.args.outcome]),
    );
    expect(byName).toEqual({ ci: "ran", left: "ran", right: "ran", broken: "failed", deps: "ran", leaf: "ran" });
    // The two parallel tasks are on different tracks.
    const tid = (name: string) => slices.find((e: { name: string }) => e.name === name).tid;
    expect(tid("left")).not.toBe(tid("right"));
    const html = readFileSync(join(build, "trace.html"), "utf8");
    for (const job of ["ci", "left", "right", "broken", "deps", "leaf"]) expect(html).toContain(`data-job="${job}"`);
    expect(existsSync(copy)).toBe(true);
    expect(JSON.parse(readFileSync(copy, "utf8"))).toEqual(trace);
    expect(otlp.requests.length).toBe(1);
    const spans = (
      otlp.requests[0].body as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] }
    ).resourceSpans
      .flatMap((r) => r.scopeSpans)
      .flatMap((s) => s.spans)
      .map((s) => s.name);
    for (const job of ["ci", "left", "right", "broken", "deps", "leaf"]) expect(spans).toContain(job);
  } finally {
    await otlp.stop();
    s.cleanup();
  }
});

test("an OTLP endpoint that is down is one warning, not a failed build", async () => {
  const s = scratch("trace-down");
  try {
    const r = await runToEnd(s, ["-n", "ci", "true"], { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^\[ci\] warn \| OTLP export to http:\/\/127\.0\.0\.1:9 failed: .+\n$/);
  } finally {
    s.cleanup();
  }
});
