// `taskrunner --prune-cache [--max-age DAYS] [--max-size SIZE]`: the options
// of the one command that is not a task (docs/contract.md §1: extra commands
// never shadow a task command, so this is an option, like --explain). cli.ts
// recognises the words; this module turns their values into limits, or into
// the one-line usage error that names what is wrong.
import { parseDays, parseSize } from "./sys/units";

export const PRUNE_USAGE = "taskrunner --prune-cache [--max-age DAYS] [--max-size SIZE]";

export const PRUNE_ARGS = {
  "prune-cache": {
    type: "boolean",
    description: "remove old archives from the directory store (TASKRUNNER_REMOTE_CACHE_DIR), then exit",
  },
  "max-age": {
    type: "string",
    valueHint: "DAYS",
    description: "with --prune-cache: remove the archives unused for over DAYS days",
  },
  "max-size": {
    type: "string",
    valueHint: "SIZE",
    description: "with --prune-cache: then the least recently used until the rest fit in SIZE (500M, 20G)",
  },
} as const;

export interface PruneLimits {
  /** Archives not used for more than this go first. `text` is as typed, for the report. */
  maxAge: { days: number; text: string } | null;
  /** Then the least recently used, until the rest total at most this. */
  maxSize: { bytes: number; text: string } | null;
}

export type PruneCli = { kind: "prune-cache" } & PruneLimits;
export type PruneValues = { "prune-cache"?: boolean; "max-age"?: string; "max-size"?: string };
/** The task options, which --prune-cache does not take. */
type TaskValues = { name?: string; force?: boolean };
type UsageError = { kind: "usage-error"; message: string; usage: string };

/** The prune command the option words ask for, a usage error, or null when they are not about pruning. */
export function pruneCli(values: PruneValues & TaskValues, cmd: string | undefined): PruneCli | UsageError | null {
  const age = values["max-age"];
  const size = values["max-size"];
  if (!values["prune-cache"]) {
    if (age === undefined && size === undefined) return null;
    return usageError(`${age !== undefined ? "--max-age" : "--max-size"} goes with --prune-cache`);
  }
  if (cmd !== undefined) return usageError(`--prune-cache takes no command (found ${JSON.stringify(cmd)})`);
  if (values.name !== undefined || values.force) return usageError("--prune-cache takes no task options (-n, -f)");
  if (age === undefined && size === undefined) {
    return usageError("--prune-cache needs --max-age DAYS, --max-size SIZE or both");
  }
  const days = age === undefined ? null : parseDays(age);
  if (age !== undefined && days === null) {
    return usageError(`--max-age ${JSON.stringify(age)} is not a number of days (e.g. 30, or 0.5 for 12 hours)`);
  }
  const bytes = size === undefined ? null : parseSize(size);
  if (size !== undefined && bytes === null) {
    const what = "is not a size (bytes, or a number with K, M, G or T: 500M, 20G)";
    return usageError(`--max-size ${JSON.stringify(size)} ${what}`);
  }
  return {
    kind: "prune-cache",
    maxAge: days === null ? null : { days, text: age! },
    maxSize: bytes === null ? null : { bytes, text: size! },
  };
}

function usageError(message: string): UsageError {
  return { kind: "usage-error", message, usage: PRUNE_USAGE };
}
