// A build as a Chrome Trace Event file (the JSON object form), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open as they are.
// Format: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
import type { Outcome, TaskRecord } from "./record";
import { layoutBuild } from "./layout";
import { countTasks, formatCounts } from "./summary";

export interface CompleteEvent {
  ph: "X";
  name: string;
  cat: "task" | "phase";
  ts: number; // µs since the build's first task started
  dur: number; // µs
  pid: number;
  tid: number;
  args: Record<string, unknown>;
  cname?: string;
}
export interface MetadataEvent {
  ph: "M";
  name: "process_name" | "thread_name" | "thread_sort_index";
  pid: number;
  tid: number;
  args: { name: string } | { sort_index: number };
}
export interface ChromeTrace {
  traceEvents: (CompleteEvent | MetadataEvent)[];
  displayTimeUnit: "ms";
  otherData: Record<string, string | number | null>;
}

// One process for the whole build: the OS pids of the runners are in args, but
// as trace pids they would split the picture into one box per nested runner.
const PID = 1;

// chrome://tracing colours slices by these reserved names (Perfetto ignores
// them and colours by name). Only names from its fixed palette are allowed.
const CNAME: Record<Outcome, string | undefined> = {
  ran: undefined,
  failed: "terrible",
  interrupted: "bad",
  skipped: "grey",
  "restored-exact": "good",
  "restored-fuzzy": "good",
};

export function chromeTrace(buildId: string, records: TaskRecord[]): ChromeTrace {
  const layout = layoutBuild(records);
  // Rounding each end, not each duration, keeps a child inside its parent.
  const us = (ms: number) => Math.round(ms * 1000);
  const meta: MetadataEvent[] = [
    { ph: "M", name: "process_name", pid: PID, tid: 0, args: { name: `taskrunner build ${buildId}` } },
  ];
  for (const t of layout.tracks) {
    meta.push({ ph: "M", name: "thread_name", pid: PID, tid: t.tid, args: { name: t.name } });
    meta.push({ ph: "M", name: "thread_sort_index", pid: PID, tid: t.tid, args: { sort_index: t.tid } });
  }

  const slices: { event: CompleteEvent; nest: number }[] = [];
  for (const task of layout.tasks) {
    const r = task.record;
    const tid = layout.tracks[task.track].tid;
    const args: Record<string, unknown> = { outcome: r.outcome, exitCode: r.exitCode, parent: r.parent, pid: r.pid };
    if (r.explain?.length) args.explain = r.explain;
    const event: CompleteEvent = {
      ph: "X",
      name: r.job,
      cat: "task",
      ts: us(task.start),
      dur: us(task.end) - us(task.start),
      pid: PID,
      tid,
      args,
    };
    const cname = CNAME[r.outcome];
    if (cname) event.cname = cname;
    slices.push({ event, nest: task.depth * 2 });
    for (const p of task.phases) {
      slices.push({
        event: {
          ph: "X",
          name: p.name,
          cat: "phase",
          ts: us(p.start),
          dur: us(p.end) - us(p.start),
          pid: PID,
          tid,
          args: { job: r.job },
        },
        nest: task.depth * 2 + 1,
      });
    }
  }
  // Parents before what they contain, also when a phase or child spans its whole
  // parent: importers nest equal slices in the order they read them.
  slices.sort(
    (a, b) => a.event.ts - b.event.ts || b.event.ts + b.event.dur - (a.event.ts + a.event.dur) || a.nest - b.nest,
  );

  return {
    traceEvents: [...meta, ...slices.map((s) => s.event)],
    displayTimeUnit: "ms",
    otherData: {
      buildId,
      buildStart: records.length ? new Date(layout.origin).toISOString() : null,
      wallTimeMs: Math.round(layout.span * 1000) / 1000,
      tasks: records.length,
      summary: formatCounts(countTasks(records)),
      generator: "taskrunner",
    },
  };
}
