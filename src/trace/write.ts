// The one place in src/trace/ that touches the disk and the network: read the
// build's task records, write trace.json and trace.html next to them, copy the
// trace where the user asked, send it to an OTLP collector. Runs once, when a
// toplevel's build is over; problems come back as warning lines for the caller
// to print, never as exceptions (a trace must not fail a build).
// No node:fs or node:path (~3 ms to load in the compiled binary, on every build's end).
import { errnoText, mkdirp, readText, writeFileAtomic } from "../sys/libc";
import { dirname, joinPath as join } from "../sys/paths";
import { OUTCOMES, type CacheFacts, type Phase, type TaskRecord } from "./record";
import { chromeTrace } from "./chrome";
import { traceHtml } from "./html";
import { exportOtlp, otlpPayload } from "./otlp";

export interface TraceOptions {
  traceFile: string | null; // a copy of trace.json goes here too
  otlpEndpoint: string | null; // base URL; spans go to <endpoint>/v1/traces
}

export async function writeTrace(buildDir: string, buildId: string, opts: TraceOptions): Promise<string[]> {
  const { records, problems } = readTaskRecords(join(buildDir, "tasks"));
  return writeTraceOf(buildDir, buildId, records, problems, opts);
}

/**
 * The same, for records already read (the toplevel reads them once for its
 * summary too). A file of the build's own directory that cannot be written
 * goes to onStateWriteFailed when given (the runner says a full state
 * directory once), else it is a warning like the rest.
 */
export async function writeTraceOf(
  buildDir: string,
  buildId: string,
  records: TaskRecord[],
  problems: string[],
  opts: TraceOptions,
  onStateWriteFailed?: (path: string, errno: number) => void,
): Promise<string[]> {
  const warnings = problems.map((p) => `Trace: left out ${p}`);
  const json = JSON.stringify(chromeTrace(buildId, records));
  const save = (path: string, text: string, inBuildDir: boolean) => {
    const err = writeAtomic(path, text);
    if (!err) return;
    if (inBuildDir && onStateWriteFailed) onStateWriteFailed(path, err);
    else warnings.push(`Could not write the trace to ${path}: ${errnoText(err)}`);
  };
  save(join(buildDir, "trace.json"), json, true);
  save(join(buildDir, "trace.html"), traceHtml(buildId, records), true);
  if (opts.traceFile) save(opts.traceFile, json, false);
  if (opts.otlpEndpoint) {
    const err = await exportOtlp(opts.otlpEndpoint, otlpPayload(buildId, records));
    if (err) warnings.push(`OTLP export to ${opts.otlpEndpoint} failed: ${err}`);
  }
  return warnings;
}

/** Every tasks/*.json that parses as a record, in name order; the others as one line each. */
export function readTaskRecords(tasksDir: string): { records: TaskRecord[]; problems: string[] } {
  let names: string[];
  try {
    names = [...new Bun.Glob("*.json").scanSync({ cwd: tasksDir, dot: true })].sort();
  } catch {
    return { records: [], problems: [] }; // no task recorded anything: an empty trace
  }
  const records: TaskRecord[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const text = readText(join(tasksDir, name));
    const parsed: TaskRecord | string = text === null ? "cannot be read" : parseTaskRecord(text);
    if (typeof parsed === "string") problems.push(`tasks/${name}: ${parsed}`);
    else records.push(parsed);
  }
  return { records, problems };
}

const PHASES: readonly Phase["name"][] = ["hash", "restore", "run", "upload", "post-unpack"];
const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * The record, or what is wrong with it. Records come from other processes,
 * possibly other versions of taskrunner: checked here so the renderers can
 * trust every field (an unknown outcome would otherwise reach a CSS class).
 */
export function parseTaskRecord(text: string): TaskRecord | string {
  // biome-ignore lint/suspicious/noExplicitAny: a record from another process, checked field by field below
  let v: any;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (typeof v !== "object" || v === null) return "not an object";
  if (typeof v.job !== "string" || v.job === "") return "no job name";
  if (v.parent !== null && typeof v.parent !== "string") return "bad parent";
  if (!isNum(v.pid) || !isNum(v.start) || !isNum(v.end) || !isNum(v.exitCode)) return "bad pid, start, end or exitCode";
  if (!OUTCOMES.includes(v.outcome)) return `unknown outcome ${JSON.stringify(v.outcome)}`;
  if (!Array.isArray(v.phases)) return "no phases";
  const phases: Phase[] = [];
  for (const p of v.phases) {
    if (!p || !PHASES.includes(p.name) || !isNum(p.start) || !isNum(p.end)) return `bad phase ${JSON.stringify(p)}`;
    phases.push({ name: p.name, start: p.start, end: p.end });
  }
  const lines = (a: unknown) => a === undefined || (Array.isArray(a) && a.every((l: unknown) => typeof l === "string"));
  if (!lines(v.explain)) return "bad explain";
  if (!lines(v.notes)) return "bad notes";
  const record: TaskRecord = {
    job: v.job,
    parent: v.parent,
    pid: v.pid,
    start: v.start,
    end: v.end,
    outcome: v.outcome,
    exitCode: v.exitCode,
    phases,
  };
  if (v.explain !== undefined) record.explain = v.explain;
  if (v.notes !== undefined) record.notes = v.notes;
  const cache = parseCacheFacts(v.cache);
  if (cache) record.cache = cache;
  return record;
}

const LOOKUPS = ["exact", "fuzzy", "miss", "not-tried"];

/** The record's cache facts; anything unexpected (another version's) is left out rather than failing the record. */
// biome-ignore lint/suspicious/noExplicitAny: checked field by field
function parseCacheFacts(v: any): CacheFacts | null {
  if (typeof v !== "object" || v === null || !LOOKUPS.includes(v.lookup)) return null;
  const facts: CacheFacts = { lookup: v.lookup };
  if (typeof v.why === "string") facts.why = v.why;
  for (const key of ["down", "up", "savedMs"] as const) if (isNum(v[key]) && v[key] >= 0) facts[key] = v[key];
  return facts;
}

/** Write beside, then rename: a viewer never opens half a trace. 0, or the errno. */
function writeAtomic(path: string, text: string): number {
  mkdirp(dirname(path));
  return writeFileAtomic(path, text);
}
