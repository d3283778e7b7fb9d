// The build summary (TASKRUNNER_STEP_SUMMARY=1, or TASKRUNNER_OUTPUT=github):
// one row per task — what became of it, how long it took, what the cache did
// and how much time a hit saved — a total line, and the build's timeline as a
// Mermaid gantt chart, as Markdown for GitHub's job summary
// ($GITHUB_STEP_SUMMARY), and the same data as JSON (builds/<id>/summary.json).
// Pure: built from the build's task records.
import type { CacheFacts, Outcome, TaskRecord } from "./record";
import { countTasks, formatCounts, type Counts } from "./summary";
import { humanDuration } from "../output/duration";

export interface SummaryTask {
  job: string;
  parent: string | null;
  outcome: Outcome;
  exitCode: number;
  /** ms from the build's first task start. */
  start: number;
  durationMs: number;
  cache: CacheFacts | null;
}

export interface BuildSummary {
  buildId: string;
  wallMs: number;
  counts: Counts;
  /** Tasks restored from the exact cache, and the run time their archives recorded. */
  restored: number;
  savedMs: number;
  /** Restored tasks whose archive recorded no run time (the old tool's, or made by a run without it). */
  savedUnknown: number;
  tasks: SummaryTask[];
}

export function buildSummary(buildId: string, records: TaskRecord[]): BuildSummary {
  const origin = records.length ? Math.min(...records.map((r) => r.start)) : 0;
  const sorted = [...records].sort((a, b) => a.start - b.start || b.end - a.end);
  const tasks = sorted.map(
    (r): SummaryTask => ({
      job: r.job,
      parent: r.parent,
      outcome: r.outcome,
      exitCode: r.exitCode,
      start: Math.round(r.start - origin),
      durationMs: Math.round(Math.max(0, r.end - r.start)),
      cache: r.cache ?? null,
    }),
  );
  const restored = tasks.filter((t) => t.outcome === "restored-exact");
  const savedMs = restored.reduce((sum, t) => sum + (t.cache?.savedMs ?? 0), 0);
  const wallMs = records.length ? Math.round(Math.max(...records.map((r) => r.end)) - origin) : 0;
  return {
    buildId,
    wallMs,
    counts: countTasks(records),
    restored: restored.length,
    savedMs,
    savedUnknown: restored.filter((t) => t.cache?.savedMs === undefined).length,
    tasks,
  };
}

const OUTCOME_CELL: Record<Outcome, string> = {
  ran: "✅ ran",
  skipped: "⏭️ skipped",
  "restored-exact": "♻️ restored",
  "restored-fuzzy": "✅ ran (fuzzy restore first)",
  failed: "❌ failed",
  interrupted: "⛔ interrupted",
};

/** "1.2 MB": sizes for people (decimal units, as GitHub shows them). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u++;
  } while (v >= 1000 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

export function cacheCell(c: CacheFacts | null): string {
  if (!c) return "—";
  switch (c.lookup) {
    case "exact":
      return "exact hit";
    case "fuzzy":
      return `fuzzy hit${c.why ? ` (${c.why})` : ""}`;
    case "miss":
      return `miss${c.why ? `: ${c.why}` : ""}`;
    case "not-tried":
      return `not looked up${c.why ? `: ${c.why}` : ""}`;
  }
}

/** Text for a Markdown table cell: no row or column breaks, no HTML. */
function cell(text: string): string {
  return text
    .replace(/[\r\n]+/g, " ")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll("|", "\\|");
}

function code(name: string): string {
  return `\`${name.replaceAll("`", "'")}\``;
}

/** "3 restored, 4 m 12 s saved" */
export function totalLine(s: BuildSummary): string {
  if (s.restored === 0) return "Nothing restored from the cache";
  const unknown = s.savedUnknown ? ` (${s.savedUnknown} without a recorded run time)` : "";
  return `${s.restored} restored, ${humanDuration(s.savedMs)} saved${unknown}`;
}

export function summaryMarkdown(s: BuildSummary): string {
  const dash = "—";
  const rows = s.tasks.map((t) => {
    const c = t.cache;
    const saved = t.outcome === "restored-exact" && c?.savedMs !== undefined ? humanDuration(c.savedMs) : dash;
    const outcome = `${OUTCOME_CELL[t.outcome]}${t.exitCode ? ` (exit code ${t.exitCode})` : ""}`;
    const down = c?.down !== undefined ? humanBytes(c.down) : dash;
    const up = c?.up !== undefined ? humanBytes(c.up) : dash;
    const cells = [code(cell(t.job)), outcome, humanDuration(t.durationMs), cell(cacheCell(c)), down, up, saved];
    return `| ${cells.join(" | ")} |`;
  });
  return [
    `### taskrunner build \`${s.buildId}\``,
    "",
    "| Task | Outcome | Duration | Cache | Down | Up | Time saved |",
    "|---|---|--:|---|--:|--:|--:|",
    ...rows,
    "",
    `**${totalLine(s)}** · ${formatCounts(s.counts)} · wall time ${humanDuration(s.wallMs)}`,
    "",
    ganttChart(s),
    "",
  ].join("\n");
}

const GANTT_TAG: Record<Outcome, string> = {
  ran: "",
  "restored-fuzzy": "",
  skipped: "done, ",
  "restored-exact": "active, ",
  failed: "crit, ",
  interrupted: "crit, ",
};

/** A task's name as Mermaid gantt text: ":" ends it and "#" / ";" start a comment or a new statement. */
function ganttText(text: string): string {
  return text.replace(/[:#;\r\n]/g, "_");
}

/** The build's timeline: one bar per task, in ms from its start (dateFormat x). */
export function ganttChart(s: BuildSummary): string {
  const bars = s.tasks.map((t, i) => {
    const end = t.start + Math.max(1, t.durationMs);
    return `    ${ganttText(t.job)} (${t.outcome}) :${GANTT_TAG[t.outcome]}t${i}, ${t.start}, ${end}`;
  });
  const axis = s.wallMs < 60_000 ? "%S.%L s" : s.wallMs < 3_600_000 ? "%M:%S" : "%H:%M";
  const head = ["```mermaid", "gantt", "    title Build timeline", "    dateFormat x", `    axisFormat ${axis}`];
  head.push("    section Tasks");
  return [...head, ...bars, "```"].join("\n");
}
