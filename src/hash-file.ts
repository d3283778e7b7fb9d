// hash/<job>.hash: what a job's inputs hashed to when it last succeeded.
import { readText, writeFileAtomic } from "./sys";

export interface HashInfo {
  hash: string;
  hashInput: string;
  mainBranchCommit: string | null;
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
      return { kind: "found", info: { hash: v.hash, hashInput: v.hashInput, mainBranchCommit: v.mainBranchCommit ?? null } };
    }
    return { kind: "damaged", reason: "unexpected JSON shape" };
  } catch (e) {
    return { kind: "damaged", reason: (e as Error).message };
  }
}

/** Same key order as the established tool writes: hash, hashInput, mainBranchCommit. */
export function writeHashFile(path: string, info: HashInfo): boolean {
  return writeFileAtomic(path, JSON.stringify({ hash: info.hash, hashInput: info.hashInput, mainBranchCommit: info.mainBranchCommit }));
}
