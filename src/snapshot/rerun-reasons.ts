// Why did this task rerun? Compares the saved hash input with the new one.
import type { HashInfo } from "../state/hash-file";

const LISTING_LINE = /^\d{6} \w+ [0-9a-f]{40}\t/;

interface Parts {
  files: Map<string, string>; // path → "mode type sha"
  raw: string | null; // null when it cannot be told apart from the file part
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
 * The hash input is the ls-tree listing with the raw inputs glued to its end
 * (no separator, as the established tool wrote it). Our hash files also keep
 * the raw values; for one written by the old tool, knowing the new raw part or
 * the new file part tells the old one apart, mostly.
 */
function splitSaved(saved: HashInfo, newFiles: string, newRaw: string): Parts {
  const input = saved.hashInput;
  if (saved.rawInputs) {
    const raw = saved.rawInputs.join("\n");
    return { files: entries(input.slice(0, input.length - raw.length)), raw };
  }
  if (input.startsWith(newFiles)) return { files: entries(newFiles), raw: input.slice(newFiles.length) };
  if (input.endsWith(newRaw)) return { files: entries(input.slice(0, input.length - newRaw.length)), raw: newRaw };
  const lines = input.split("\n").filter((l) => LISTING_LINE.test(l));
  return { files: entries(lines.join("\n")), raw: null };
}

export function explainChange(saved: HashInfo, current: HashInfo): string[] {
  if (saved.hash === "") return ["no saved hash: first run here (or the hash file was missing or damaged)"];
  const newRawJoined = (current.rawInputs ?? []).join("\n");
  const newFiles = current.hashInput.slice(0, current.hashInput.length - newRawJoined.length);
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
  if (saved.mainBranchCommit !== current.mainBranchCommit) {
    lines.push(`main-branch commit moved: ${saved.mainBranchCommit ?? "none"} → ${current.mainBranchCommit ?? "none"}`);
  }
  if (lines.length === 0) lines.push("the hash input changed in a way that names no file (e.g. its format)");
  return lines;
}

/** Paths whose ls-tree line differs between two hash inputs. */
export function changedPaths(before: string, after: string): string[] {
  const a = entries(before);
  const b = entries(after);
  const changed = new Set<string>();
  for (const [path, meta] of a) if (b.get(path) !== meta) changed.add(path);
  for (const path of b.keys()) if (!a.has(path)) changed.add(path);
  return [...changed].sort();
}
