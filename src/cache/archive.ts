// The archive format, shared with the old tool: a tar of the outputs, named by
// their paths relative to the cache root (snapshot/output-paths.ts), compressed with
// zstd level 3. Ours are written by tar-writer.ts, the old tool's by GNU tar;
// each reads the other's.
// Everything streams: tar → zstd → store on save, store → zstd → tar on
// restore, so an archive is never held in memory. This file: which members
// to archive, and the extraction pipeline (zstd-frames.ts → tar-reader.ts).
import { lstat, realpath } from "node:fs/promises";
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TarExtractor, type EntryMeta } from "./tar-reader";
import { decompressWith } from "./zstd-frames";
import { parseMeta, type ArchiveMeta } from "./archive-meta";
import { WritePool, type PoolOptions } from "./write-pool";
import { isInside, relativeTo, resolvePath } from "../sys/paths";

export type { EntryMeta };

export type Checked = { ok: true; members: string[] } | { ok: false; message: string };

/**
 * Every tar member for the declared outputs, depth first and sorted. Every
 * output must exist and lie inside the cache root, also after following
 * symlinks in its parent directories (the output itself may be a symlink: it
 * is archived as a link).
 */
export async function checkOutputs(root: string, outputs: string[]): Promise<Checked> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { ok: false, message: `cache root ${root} does not exist` };
  }
  const absRoot = resolvePath("/", root);
  const tops: { name: string; isDir: boolean }[] = [];
  for (const declared of outputs) {
    const path = resolvePath(absRoot, declared);
    const member = relativeTo(absRoot, path);
    if (member === null) return { ok: false, message: `output ${declared}${path === declared ? "" : ` (${path})`} is outside the cache root ${absRoot}` };
    let isDir: boolean;
    try {
      isDir = (await lstat(path)).isDirectory();
    } catch {
      return { ok: false, message: `output ${declared} does not exist (looked for ${path})` };
    }
    const realParent = await realpath(dirname(path));
    if (member !== "." && !isInside(realParent, realRoot)) {
      return { ok: false, message: `output ${declared} is outside the cache root ${root} (through a symlink to ${realParent})` };
    }
    tops.push({ name: member, isDir });
  }
  const members: string[] = [];
  for (const top of tops) walk(root, top.name, top.isDir, members);
  return { ok: true, members };
}

/** One member as it was when the task ended: what its header says, and what its contents must still match. */
export interface OutputEntry {
  member: string;
  stats: Stats;
  /** A symlink's target. */
  link?: string;
}

/**
 * The members' metadata, taken now (when the task has just ended): the
 * archive is written from it, and a file whose metadata differs by the time
 * it is read — a later task wrote it while the upload ran in the background —
 * fails the archive instead of tearing it (tar-writer.ts).
 * Synchronous, as walk is: the task's caller waits for this, and a thread-pool
 * trip per lstat took 1.5–2× as long (2,200 files: 12–20 ms against 7–10 ms).
 */
export function snapshotOutputs(root: string, members: string[]): OutputEntry[] {
  return members.map((member) => {
    const abs = member === "." ? root : join(root, member);
    const stats = lstatSync(abs);
    return stats.isSymbolicLink() ? { member, stats, link: readlinkSync(abs) } : { member, stats };
  });
}

/**
 * Lists a directory's members before its contents, depth first — the order
 * GNU tar writes and expects: it sets a directory's mtime once it has left the
 * directory, so members of one directory interleaved with another's (node-tar's
 * own walk, which runs several directories at once) leave wrong mtimes behind.
 * Sorted, so the same tree always makes the same archive.
 */
function walk(root: string, member: string, isDir: boolean, out: string[]): void {
  out.push(member);
  if (!isDir) return;
  const children = readdirSync(join(root, member), { withFileTypes: true });
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of children) walk(root, member === "." ? c.name : `${member}/${c.name}`, c.isDirectory(), out);
}

/** The tar stream is fed to the extractor in steps of this much, each once the write pool has room for it. */
const STEP = 256 << 10;

/**
 * zstd → tar: extracts `source` into `dir`, a fresh, empty directory.
 * Rejects on a corrupt, truncated or hostile archive (see tar-reader.ts), or
 * when `signal` aborts; every file written is closed by then.
 * Returns the members whose mode or mtime restoreInto must reapply.
 * `mtime`: every member's, in place of the archived ones.
 */
export async function unpackArchive(
  source: Readable,
  dir: string,
  signal?: AbortSignal,
  { mtime, ...opts }: Omit<PoolOptions, "signal"> & { onMeta?: (meta: ArchiveMeta) => void; mtime?: Date } = {},
): Promise<Map<string, EntryMeta>> {
  const { onMeta } = opts;
  const decompress = decompressWith((magic, payload) => {
    const meta = onMeta ? parseMeta(magic, payload) : null;
    if (meta) onMeta?.(meta);
  });
  const files = new WritePool({ ...opts, signal });
  const extractor = new TarExtractor(dir, files, mtime);
  try {
    // A piece is freed once the next is asked for (zstd-frames.ts): the
    // extractor copies what it keeps (into the write pool's buffer, or a file).
    await pipeline(
      source,
      decompress,
      async (pieces: AsyncIterable<Buffer>) => {
        for await (const piece of pieces) {
          for (let at = 0; at < piece.length; at += STEP) {
            await files.ready(STEP);
            extractor.write(piece.subarray(at, at + STEP));
          }
          files.flush();
        }
      },
      { signal },
    );
    const meta = extractor.end();
    await files.finish();
    return meta;
  } finally {
    await files.stop();
  }
}
