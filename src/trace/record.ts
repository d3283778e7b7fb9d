// The record each taskrunner writes for its job at builds/<id>/tasks/<job>.json.
// Everything in src/trace/ renders a build from a list of these, and nothing else.

import { OUTCOME_KINDS, type OutcomeKind } from "../outcome";

export type Outcome = OutcomeKind;
export interface Phase {
  name: "hash" | "restore" | "run" | "upload" | "post-unpack";
  start: number;
  end: number;
} // epoch ms (floats allowed)
/**
 * What the remote cache did for a task (absent: it has none). lookup: "exact" restored this
 * hash's archive; "fuzzy" restored another build's outputs before the run; "miss" looked and
 * found none usable (why); "not-tried" did not look (why). Bytes moved; savedMs: how long the
 * run that made the restored archive took, when the archive says (cache/archive-meta.ts).
 */
export interface CacheFacts {
  lookup: "exact" | "fuzzy" | "miss" | "not-tried";
  why?: string;
  down?: number;
  up?: number;
  savedMs?: number;
}
export interface TaskRecord {
  job: string;
  parent: string | null; // job name of the taskrunner whose task started this one (null for the toplevel)
  pid: number;
  start: number; // epoch ms when the runner started this job (after taking its lock)
  end: number; // epoch ms when it finished
  outcome: Outcome;
  exitCode: number;
  phases: Phase[];
  explain?: string[]; // lines saying why it reran (may be absent)
  // what else its caches did, in its log's words: why the remote cache was not
  // used, inputs it rewrote (may be absent)
  notes?: string[];
  cache?: CacheFacts; // (may be absent)
}

export const OUTCOMES: readonly Outcome[] = OUTCOME_KINDS;
