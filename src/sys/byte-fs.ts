// node:fs/promises for names that are bytes (byte-names.ts): the calls the
// restore makes, taking and giving names as strings that may hold escaped
// bytes, so a name that is not UTF-8 is restored with its bytes, not renamed.
import * as fsp from "node:fs/promises";
import { chmodSync, lutimesSync, utimesSync, type RmOptions } from "node:fs";
import { decodeName, fsPath } from "./byte-names";

export const lstat = (p: string) => fsp.lstat(fsPath(p));
export const stat = (p: string) => fsp.stat(fsPath(p));
export const rename = (from: string, to: string) => fsp.rename(fsPath(from), fsPath(to));
export const rm = (p: string, opts?: RmOptions) => fsp.rm(fsPath(p), opts);
export const chmod = (p: string, mode: number) => fsp.chmod(fsPath(p), mode);
export const utimes = (p: string, atime: Date, mtime: Date) => fsp.utimes(fsPath(p), atime, mtime);
export const lutimes = (p: string, atime: Date, mtime: Date) => fsp.lutimes(fsPath(p), atime, mtime);
// Synchronous: for a call per directory of a tree, where a thread-pool trip and a promise cost more than the call.
export const chmodNow = (p: string, mode: number) => chmodSync(fsPath(p), mode);
export const utimesNow = (p: string, atime: Date, mtime: Date) => utimesSync(fsPath(p), atime, mtime);
export const lutimesNow = (p: string, atime: Date, mtime: Date) => lutimesSync(fsPath(p), atime, mtime);
export const mkdir = (p: string, opts?: { recursive?: boolean; mode?: number }) => fsp.mkdir(fsPath(p), opts);
/** Bun's cp takes no Buffer path: names that are not UTF-8 are not copied across a mount point. */
export const cp = fsp.cp;

export async function readdir(p: string): Promise<string[]> {
  return (await fsp.readdir(fsPath(p), { encoding: "buffer" })).map(decodeName);
}

export async function readlink(p: string): Promise<string> {
  return decodeName(await fsp.readlink(fsPath(p), { encoding: "buffer" }));
}

export async function realpath(p: string): Promise<string> {
  return decodeName(await fsp.realpath(fsPath(p), { encoding: "buffer" }));
}
