// Comparing two hash inputs of a task: why it reran (the saved hash against the
// new one), and what moved while it ran (before the run against after it).
import type { HashInfo } from "../state/hash-file";
import { unquotePath } from "../hash/text";
import { isInside, resolvePath } from "../sys/paths";
import { commandInput } from "./args";

const LISTING_LINE = /^\d{6} \w+ [0-9a-f]{40}\t/;

interface Parts {
  files: Map<string, string>; // path → "mode type sha"
  raw: string | null; // the --raw values joined; null when they cannot be told apart from the file part
  command: string[] | null; // the argv hashed with --hash-command
}

function entries(fileListing: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of fileListing.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab > 0) m.set(line.slice(tab + 1), line.slice(0, tab));
  }
  return m;
}

/**
 * The raw part ending a hash input we computed: the --raw values, then the command line (--hash-command), joined with
 * "\n".
 */
function rawTail(info: HashInfo): string {
  return [...(info.rawInputs ?? []), ...(info.command ? [commandInput(info.command)] : [])].join("\n");
}

/** The ls-tree listing at the start of a hash input we computed (its raw part cut off). */
function fileListing(info: HashInfo): string {
  return info.hashInput.slice(0, info.hashInput.length - rawTail(info).length);
}

/**
 * The hash input is the ls-tree listing with the raw inputs glued to its end
 * (no separator, as the established tool wrote it). Our hash files also keep
 * the raw values and the hashed command; for one written by the old tool (or
 * by us for a task with neither), knowing the new raw part or the new file
 * part tells the old one apart, mostly.
 */
function splitSaved(saved: HashInfo, newFiles: string, newRaw: string): Parts {
  const input = saved.hashInput;
  if (saved.rawInputs || saved.command) {
    return {
      files: entries(fileListing(saved)),
      raw: (saved.rawInputs ?? []).join("\n"),
      command: saved.command ?? null,
    };
  }
  if (input.startsWith(newFiles)) return { files: entries(newFiles), raw: input.slice(newFiles.length), command: null };
  if (input.endsWith(newRaw))
    return { files: entries(input.slice(0, input.length - newRaw.length)), raw: newRaw, command: null };
  const lines = input.split("\n").filter((l) => LISTING_LINE.test(l));
  return { files: entries(lines.join("\n")), raw: null, command: null };
}

export function explainChange(saved: HashInfo, current: HashInfo): string[] {
  if (saved.hash === "") return ["no saved hash: first run here (or the hash file was missing or damaged)"];
  const newRawJoined = (current.rawInputs ?? []).join("\n");
  const newFiles = fileListing(current);
  const before = splitSaved(saved, newFiles, newRawJoined);
  const after = entries(newFiles);
  const added: string[] = [];
  const removed: string[] = [];
  const modified: string[] = [];
  for (const [path, meta] of after) {
    const old = before.files.get(path);
    if (old === undefined) added.push(path);
    else if (old !== meta) modified.push(path);
  }
  for (const path of before.files.keys()) if (!after.has(path)) removed.push(path);
  const lines: string[] = [];
  const list = (what: string, paths: string[]) => {
    if (paths.length === 0) return;
    const shown = paths.slice(0, 20).join(", ");
    lines.push(`files ${what}: ${shown}${paths.length > 20 ? ` and ${paths.length - 20} more` : ""}`);
  };
  list("modified", modified);
  list("added", added);
  list("removed", removed);
  if (before.raw === null || before.raw !== newRawJoined) lines.push("raw inputs changed (--raw values)");
  const command = current.command ?? null;
  if (before.command === null && command !== null) lines.push("the command is hashed now (--hash-command added)");
  else if (before.command !== null && command === null)
    lines.push("the command is not hashed any more (--hash-command removed)");
  else if (JSON.stringify(before.command) !== JSON.stringify(command)) lines.push("command changed (--hash-command)");
  if (saved.mainBranchCommit !== current.mainBranchCommit) {
    lines.push(`main-branch commit moved: ${saved.mainBranchCommit ?? "none"} → ${current.mainBranchCommit ?? "none"}`);
  }
  if (lines.length === 0) lines.push("the hash input changed in a way that names no file (e.g. its format)");
  return lines;
}

/** Paths (as ls-tree names them) whose line differs between two hash inputs we computed for the same inputs. */
export function changedPaths(before: HashInfo, after: HashInfo): string[] {
  const a = entries(fileListing(before));
  const b = entries(fileListing(after));
  const changed = new Set<string>();
  for (const [path, meta] of a) if (b.get(path) !== meta) changed.add(path);
  for (const path of b.keys()) if (!a.has(path)) changed.add(path);
  return [...changed].sort();
}

/**
 * What moved between two hashes of a task's inputs — before its run and after
 * it, or before a restore and after it: the changed paths, and whether every
 * one is a declared output (an input-output file such as a lockfile the task
 * rewrites). Listing paths are relative to the work tree's top (ls-tree
 * --full-name); outputs are absolute, placed as snapshot/output-paths.ts
 * places them; a path is an output when it is one or lies below one.
 */
export function movedInputs(
  before: HashInfo,
  after: HashInfo,
  workTreeTop: string | null,
  outputs: string[],
): { paths: string[]; allOutputs: boolean } {
  const paths = changedPaths(before, after);
  const isOutput = (p: string) =>
    workTreeTop !== null && outputs.some((o) => isInside(resolvePath(workTreeTop, unquotePath(p)), o));
  return { paths, allOutputs: paths.length > 0 && paths.every(isOutput) };
}
