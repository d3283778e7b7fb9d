// What --prune-cache finds in a directory store's bundles directory
// (`<dir>/<prefix>bundles/`, and any folder below it): the archives, each with
// its sidecars — every file named after the archive's file name plus a dot
// (`<archive>.sig`, say), which lives and goes with it — and the files that
// belong to no archive: temporary files of writes (`*.tmp-<pid>-<random>`,
// fs-store.ts) and sidecars whose archive is gone. Anything else is left alone.
//
// Names are bytes: a directory is read as Buffers and every path is built
// from them, so a name that is not UTF-8 is found, measured and removed like
// any other.
import { lstat, readdir } from "node:fs/promises";
import { TEMPORARY } from "./fs-store";
import { lastUsedMs } from "./last-used";
import { describeError } from "../sys/errors";

const SUFFIX = ".tar.zst";
const SLASH = Buffer.from("/");

export interface StoreFile {
  path: Buffer;
  /** The path below the store's directory, as keys are written: `taskrunner/bundles/job-<hash>.tar.zst`. */
  key: Buffer;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  ino: number;
}

export interface ArchiveEntry {
  file: StoreFile;
  sidecars: StoreFile[];
  /** The archive's and its sidecars' bytes. */
  size: number;
  lastUsed: number;
}

export interface Scan {
  archives: ArchiveEntry[];
  temporaries: StoreFile[];
  /** Sidecars with no archive beside them. */
  orphans: StoreFile[];
  /** Folders that could not be read: their archives are neither counted nor pruned. */
  unreadable: { path: Buffer; error: string }[];
}

/** Everything below bundles; storeDir is where keys start. A bundles folder that does not exist is an empty scan. */
export async function scanBundles(storeDir: string, bundles: string): Promise<Scan> {
  const scan: Scan = { archives: [], temporaries: [], orphans: [], unreadable: [] };
  const base = Buffer.from(bundles);
  const keyStart = Buffer.byteLength(storeDir.replace(/\/+$/, "")) + 1;
  await scanFolder(base, keyStart, scan, true);
  return scan;
}

async function scanFolder(dir: Buffer, keyStart: number, scan: Scan, top: boolean): Promise<void> {
  let names: Buffer[];
  try {
    names = (await readdir(dir, { encoding: "buffer" })) as Buffer[];
  } catch (e) {
    if (!(top && (e as { code?: string }).code === "ENOENT")) scan.unreadable.push({ path: dir, error: errnoError(e) });
    return;
  }
  const files: StoreFile[] = [];
  const folders: Buffer[] = [];
  for (let i = 0; i < names.length; i += 64) {
    await Promise.all(
      names.slice(i, i + 64).map(async (name) => {
        const path = Buffer.concat([dir, SLASH, name]);
        const st = await lstat(path).catch(() => null); // gone meanwhile: nothing to prune
        if (st?.isDirectory()) folders.push(path);
        else if (st?.isFile()) {
          const { size, atimeMs, mtimeMs, ino } = st;
          files.push({ path, key: path.subarray(keyStart), size, atimeMs, mtimeMs, ino });
        }
      }),
    );
  }
  sortFolder(files, scan);
  for (const folder of folders) await scanFolder(folder, keyStart, scan, false);
}

/** Sorts one folder's files into archives (with their sidecars), temporaries and orphans. */
function sortFolder(files: StoreFile[], scan: Scan): void {
  const archives = new Map<string, ArchiveEntry>();
  const sidecars: { file: StoreFile; name: string }[] = [];
  for (const file of files) {
    // latin1 maps each byte to one character, so these tests see the bytes.
    const name = baseName(file.path).toString("latin1");
    if (TEMPORARY.test(name)) {
      scan.temporaries.push(file);
    } else if (name.endsWith(SUFFIX)) {
      archives.set(name, { file, sidecars: [], size: file.size, lastUsed: lastUsedMs(file) });
    } else if (name.includes(`${SUFFIX}.`)) {
      sidecars.push({ file, name });
    }
  }
  for (const { file, name } of sidecars) {
    const owner = ownerOf(name, archives);
    if (!owner) {
      scan.orphans.push(file);
      continue;
    }
    owner.sidecars.push(file);
    owner.size += file.size;
  }
  scan.archives.push(...archives.values());
}

/**
 * The archive a sidecar's name starts with (plus a dot): the longest one, as
 * a job's name may itself hold ".tar.zst." (`a.tar.zst.b-<hash>.tar.zst.sig`).
 */
function ownerOf(name: string, archives: Map<string, ArchiveEntry>): ArchiveEntry | undefined {
  for (let at = name.lastIndexOf(`${SUFFIX}.`); at >= 0; at = at === 0 ? -1 : name.lastIndexOf(`${SUFFIX}.`, at - 1)) {
    const owner = archives.get(name.slice(0, at + SUFFIX.length));
    if (owner) return owner;
  }
  return undefined;
}

export function baseName(path: Buffer): Buffer {
  return path.subarray(path.lastIndexOf(0x2f) + 1);
}

/** "permission denied (EACCES)": node's message without the call and the path, which the line already names. */
export function errnoError(e: unknown): string {
  const m = /^([A-Z0-9]+): ([^,]+),/.exec((e as Error).message ?? "");
  return m ? `${m[2]} (${m[1]})` : describeError(e);
}
