// hash/<job>.hash: what a job's inputs hashed to when it last succeeded.
import { readText, writeFileAtomic } from "../sys/libc";

export interface HashInfo {
  hash: string;
  hashInput: string;
  mainBranchCommit: string | null;
  /**
   * Beyond the old format (which ignores unknown keys): the --raw values, so --explain can tell them from the file
   * part.
   */
  rawInputs?: string[];
  /**
   * Beyond the old format too: the task's argv when `snapshot --hash-command` made it an input (after the --raw
   * values).
   */
  command?: string[];
}

export type SavedHash = { kind: "found"; info: HashInfo } | { kind: "absent" } | { kind: "damaged"; reason: string };

export function readHashFile(path: string): SavedHash {
  const text = readText(path);
  if (text === null) return { kind: "absent" };
  try {
    const v = JSON.parse(text);
    if (
      typeof v?.hash === "string" &&
      typeof v.hashInput === "string" &&
      (v.mainBranchCommit === null || v.mainBranchCommit === undefined || typeof v.mainBranchCommit === "string")
    ) {
      const strings = (a: unknown): string[] | undefined =>
        Array.isArray(a) && a.every((r: unknown) => typeof r === "string") ? a : undefined;
      const info: HashInfo = {
        hash: v.hash,
        hashInput: v.hashInput,
        mainBranchCommit: v.mainBranchCommit ?? null,
        rawInputs: strings(v.rawInputs),
      };
      const command = strings(v.command);
      if (command) info.command = command;
      return { kind: "found", info };
    }
    return { kind: "damaged", reason: "unexpected JSON shape" };
  } catch (e) {
    return { kind: "damaged", reason: (e as Error).message };
  }
}

/** The established tool's keys in its order (hash, hashInput, mainBranchCommit), then ours. 0, or the errno. */
export function writeHashFile(path: string, info: HashInfo): number {
  const { hash, hashInput, mainBranchCommit, rawInputs, command } = info;
  return writeFileAtomic(
    path,
    JSON.stringify({
      hash,
      hashInput,
      mainBranchCommit,
      ...(rawInputs?.length ? { rawInputs } : {}),
      ...(command ? { command } : {}),
    }),
  );
}
