// Where each task of a build goes on a timeline: which track (row), and how deep
// inside that track. Shared by the Chrome trace and the HTML page so both show
// the same picture.
//
// The rule both viewers need: on one track, any two slices (tasks and their
// phases) are either nested or disjoint. Perfetto and chrome://tracing build
// their flame chart from that; a slice that straddles another one's end is drawn
// wrongly or dropped. So a nested task goes on its parent's track when it fits
// inside it, and a task running in parallel with a sibling gets another track.
import type { TaskRecord, Phase } from "./record";

export interface Span {
  start: number; // ms since the build's origin
  end: number; // >= start
}
export interface PlacedPhase extends Span {
  name: Phase["name"];
}
export interface PlacedTask extends Span {
  record: TaskRecord;
  phases: PlacedPhase[];
  track: number; // index into Layout.tracks (display order)
  depth: number; // how many tasks enclose it on its track (0 = top of the track)
}
export interface Track {
  tid: number; // index + 1: Chrome trace thread ids, in display order
  name: string; // the jobs that sit at the top of the track
  lanes: number; // deepest nesting on the track + 1
}
export interface Layout {
  origin: number; // epoch ms of the earliest task start (0 when there are none)
  span: number; // ms from origin to the last task end
  tasks: PlacedTask[]; // in start order (parents before the children they enclose)
  tracks: Track[];
}

interface Slice extends Span {
  task: PlacedTask | null; // null for a phase
}
interface WorkTrack {
  slices: Slice[];
  openedFor: string | null; // the parent job whose child opened this track (null: a root)
  parentTrack: number | null; // the track of that parent, to show this one next to it
}

export function layoutBuild(records: TaskRecord[]): Layout {
  const origin = records.length ? records.reduce((m, r) => Math.min(m, r.start), Infinity) : 0;
  const tasks = records.map((record) => placeholder(record, origin));
  // Longer first on equal starts, so a parent is placed before a child that
  // started in the same millisecond.
  tasks.sort((a, b) => a.start - b.start || b.end - a.end || cmp(a.record.job, b.record.job));

  const work: WorkTrack[] = [];
  const placed = new Map<string, PlacedTask>();
  for (const task of tasks) {
    const parentJob = task.record.parent;
    // A parent that is missing (its runner was killed before writing) or that
    // started after its child (clock trouble) cannot hold it: place it as a root.
    const parent = parentJob !== null && parentJob !== task.record.job ? placed.get(parentJob) : undefined;
    const key = parent ? parent.record.job : null;
    // Candidates: the parent's own track, then tracks opened earlier by its other
    // children (reused once the sibling there is over). Never a track of an
    // unrelated task: the task would look nested under something it is not.
    const candidates = parent ? [parent.track] : [];
    work.forEach((t, i) => {
      if (t.openedFor === key && i !== parent?.track) candidates.push(i);
    });
    let depth = -1;
    let track = candidates.find((i) => (depth = fit(work[i], task, key)) >= 0);
    if (track === undefined) {
      track = work.push({ slices: [], openedFor: key, parentTrack: parent ? parent.track : null }) - 1;
      depth = 0;
    }
    task.track = track;
    task.depth = depth;
    work[track].slices.push(
      { start: task.start, end: task.end, task },
      ...task.phases.map((p) => ({ start: p.start, end: p.end, task: null })),
    );
    if (!placed.has(task.record.job)) placed.set(task.record.job, task);
  }

  const order = displayOrder(work);
  const position = new Map(order.map((w, i) => [w, i]));
  for (const task of tasks) task.track = position.get(task.track)!;
  const tracks = order.map((_w, i): Track => {
    const mine = tasks.filter((t) => t.track === i);
    return { tid: i + 1, name: trackName(mine), lanes: 1 + Math.max(...mine.map((t) => t.depth)) };
  });
  const span = tasks.reduce((m, t) => Math.max(m, t.end), 0);
  return { origin, span, tasks, tracks };
}

/** Relative times, end never before start, phases clamped inside the task and disjoint. */
function placeholder(record: TaskRecord, origin: number): PlacedTask {
  const start = record.start - origin;
  const end = Math.max(record.end - origin, start);
  const phases: PlacedPhase[] = [];
  let floor = start;
  // Phases are sequential by construction; clamping keeps a clock hiccup from
  // producing a phase that sticks out of its task and breaks the nesting rule.
  for (const p of [...record.phases].sort((a, b) => a.start - b.start)) {
    const s = Math.max(p.start - origin, floor);
    const e = Math.min(p.end - origin, end);
    if (e < s) continue;
    phases.push({ name: p.name, start: s, end: e });
    floor = e;
  }
  return { record, start, end, phases, track: -1, depth: 0 };
}

/**
 * The depth the task would have on this track, or -1 if it cannot go there:
 * it would straddle a slice, or the innermost task around it is another
 * task than its parent (it would look like that task's child).
 */
function fit(track: WorkTrack, task: Span, parentJob: string | null): number {
  let depth = 0;
  let innermost: PlacedTask | null = null;
  for (const s of track.slices) {
    // Enclosing is tested first so that a zero-length task at its parent's
    // start or end counts as inside it rather than merely touching it.
    const encloses = s.start <= task.start && task.end <= s.end && s.end > s.start;
    if (!encloses) {
      if (s.end <= task.start || task.end <= s.start) continue; // disjoint
      if (task.start <= s.start && s.end <= task.end) continue; // inside the task
      return -1;
    }
    if (s.task) {
      depth++;
      if (!innermost || s.start > innermost.start || (s.start === innermost.start && s.end <= innermost.end))
        innermost = s.task;
    }
  }
  // Nothing around it is fine too: it then heads the track, as on a new one.
  return innermost === null || innermost.record.job === parentJob ? depth : -1;
}

/** Each track right after the track of the parent that opened it (depth-first). */
function displayOrder(work: WorkTrack[]): number[] {
  const order: number[] = [];
  const visit = (parent: number | null) => {
    work.forEach((t, i) => {
      if (t.parentTrack === parent) {
        order.push(i);
        visit(i);
      }
    });
  };
  visit(null);
  return order;
}

function trackName(tasks: PlacedTask[]): string {
  const tops = tasks.filter((t) => t.depth === 0).map((t) => t.record.job);
  return tops.length <= 3 ? tops.join(", ") : `${tops.slice(0, 3).join(", ")} +${tops.length - 3} more`;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** "850 ms", "12.4 s", "3m 05s": durations for people. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}
