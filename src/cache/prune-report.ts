// What --prune-cache prints: one line per file removed (stdout), so that a CI
// log says which job's cache went and why, one per file that could not be
// (stderr), and a summary line at the end (stdout). Rendering only: prune.ts
// decides, main.ts writes. Keys are bytes and printed as they are.
import type { PruneLimits } from "../cli-prune";
import { formatAge, formatBytes, plural } from "../sys/units";
import { baseName, type ArchiveEntry, type StoreFile } from "./prune-scan";

export type PruneEvent =
  | { kind: "removed"; entry: ArchiveEntry; sidecars: StoreFile[]; why: "age" | "size" }
  | { kind: "removed-other"; file: StoreFile; why: "temporary" | "orphan" }
  | { kind: "kept-in-use"; file: StoreFile }
  | { kind: "cannot-remove"; path: Buffer; error: string }
  | { kind: "cannot-read"; path: Buffer; error: string };

export interface PruneSummary {
  /** The bundles folder pruned. */
  where: string;
  /** Archives removed (each with its sidecars). */
  archives: number;
  /** Stale temporary files and orphan sidecars removed. */
  others: number;
  freed: number;
  kept: number;
  keptBytes: number;
  /** Something could not be removed or read. */
  failed: boolean;
}

export type Rendered = { stream: "out" | "err"; line: Uint8Array };

export function renderEvent(e: PruneEvent, limits: PruneLimits, now: number): Rendered {
  switch (e.kind) {
    case "removed": {
      const { file } = e.entry;
      const extra = e.sidecars.map((s) => baseName(s.key).subarray(baseName(file.key).length));
      const sidecars = extra.length === 0 ? [] : [" (+ ", ...join(extra, ", "), ")"];
      const age = e.why === "age";
      const why = age ? `--max-age ${limits.maxAge?.text}` : `least recently used, --max-size ${limits.maxSize?.text}`;
      const size = formatBytes(file.size + e.sidecars.reduce((sum, s) => sum + s.size, 0));
      const used = formatAge(now - e.entry.lastUsed);
      return out("removed ", file.key, ...sidecars, `: ${size}, last used ${used} ago (${why})`);
    }
    case "removed-other": {
      const what = e.why === "temporary" ? "a temporary file its writer left" : "a sidecar whose archive is gone";
      const age = formatAge(now - e.file.mtimeMs);
      return out("removed ", e.file.key, `: ${formatBytes(e.file.size)}, ${what}, untouched for ${age}`);
    }
    case "kept-in-use":
      return out("kept ", e.file.key, ": used or replaced while the prune ran");
    case "cannot-remove":
      return err("taskrunner: cannot remove ", e.path, `: ${e.error}`);
    case "cannot-read":
      return err("taskrunner: cannot read ", e.path, `: ${e.error}; the archives in it were not pruned`);
  }
}

export function renderSummary(s: PruneSummary): Uint8Array {
  const others = s.others === 0 ? "" : ` and ${plural(s.others, "other file")}`;
  const removed = `removed ${plural(s.archives, "archive")}${others}, freed ${formatBytes(s.freed)}`;
  const done = s.archives + s.others === 0 ? "nothing to remove" : removed;
  return Buffer.from(`pruned ${s.where}: ${done}; kept ${plural(s.kept, "archive")}, ${formatBytes(s.keptBytes)}\n`);
}

function out(...parts: (string | Uint8Array)[]) {
  return { stream: "out" as const, line: bytes(parts) };
}

function err(...parts: (string | Uint8Array)[]) {
  return { stream: "err" as const, line: bytes(parts) };
}

function bytes(parts: (string | Uint8Array)[]): Uint8Array {
  return Buffer.concat([...parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)), Buffer.from("\n")]);
}

function join(items: Uint8Array[], separator: string): (string | Uint8Array)[] {
  return items.flatMap((item, i) => (i === 0 ? [item] : [separator, item]));
}
