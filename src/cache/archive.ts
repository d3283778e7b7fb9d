// The archive format, shared with the old tool: a tar of the outputs, named by
// their paths relative to the cache root (snapshot/output-paths.ts), compressed with
// zstd level 3. Ours are written by tar-writer.ts, the old tool's by GNU tar;
// each reads the other's.
// Everything streams: tar → zstd → store on save, store → zstd → tar on
// restore, so an archive is never held in memory. This file: which members
// to archive, and the extraction pipeline (zstd-frames.ts → tar-reader.ts).
import { lstat, realpath } from "node:fs/promises";
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { TarExtractor, type EntryMeta } from "./tar-reader";
import { decompressWith } from "./zstd-frames";
import { parseMeta, type ArchiveMeta } from "./archive-meta";
import { WritePool, type PoolOptions } from "./write-pool";
// Not node:path: Bun's turns an escaped byte (sys/byte-names.ts) into U+FFFD.
import { dirname, isInside, joinPath as join, relativeTo, resolvePath } from "../sys/paths";
import { decodeName, fsPath } from "../sys/byte-names";

export type { EntryMeta };

/** notes: for the debug log. */
export type Checked = { ok: true; members: string[]; notes: string[] } | { ok: false; message: string };

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
    if (member === null)
      return {
        ok: false,
        message: `output ${declared}${path === declared ? "" : ` (${path})`} is outside the cache root ${absRoot}`,
      };
    let isDir: boolean;
    try {
      isDir = (await lstat(path)).isDirectory();
    } catch {
      return { ok: false, message: `output ${declared} does not exist (looked for ${path})` };
    }
    const realParent = await realpath(dirname(path));
    if (member !== "." && !isInside(realParent, realRoot)) {
      return {
        ok: false,
        message: `output ${declared} is outside the cache root ${root} (through a symlink to ${realParent})`,
      };
    }
    tops.push({ name: member, isDir });
  }
  const linked = await linkTargets(root, realRoot, tops);
  const members: string[] = [];
  for (const top of [...tops, ...linked]) walk(root, top.name, top.isDir, members);
  return {
    ok: true,
    members,
    notes: linked.map((t) => `output ${t.link} is a symlink: archived with what it points to, ${t.name}`),
  };
}

/**
 * What the declared outputs that are symlinks point to, when it lies in the
 * cache root and no output covers it (`dist -> real/dist`): archived too, under
 * its own name, so that a fresh checkout gets the link and what it leads to —
 * GNU tar (the old tool) archives the link alone, which restores dangling. A
 * target outside the root is not archived; restore.ts refuses an archive that
 * would leave a declared output dangling.
 */
async function linkTargets(
  root: string,
  realRoot: string,
  tops: { name: string; isDir: boolean }[],
): Promise<{ name: string; isDir: boolean; link: string }[]> {
  const found: { name: string; isDir: boolean; link: string }[] = [];
  const covered = (m: string) =>
    [...tops, ...found].some((t) => m === t.name || t.name === "." || (t.isDir && m.startsWith(`${t.name}/`)));
  for (const top of tops) {
    const path = top.name === "." ? root : join(root, top.name);
    if (top.isDir || !(await lstat(fsPath(path))).isSymbolicLink()) continue;
    const real = await realpath(fsPath(path), { encoding: "buffer" }).then(decodeName, () => null);
    const member = real === null ? null : relativeTo(realRoot, real);
    if (member === null || member === "." || covered(member)) continue;
    found.push({ name: member, isDir: (await lstat(fsPath(real!))).isDirectory(), link: top.name });
  }
  return found;
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
    const stats = lstatSync(fsPath(abs));
    return stats.isSymbolicLink()
      ? { member, stats, link: decodeName(readlinkSync(fsPath(abs), { encoding: "buffer" })) }
      : { member, stats };
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
  const children = entries(join(root, member));
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of children) walk(root, member === "." ? c.name : `${member}/${c.name}`, c.isDir, out);
}

/**
 * A directory's entries, names as bytes (sys/byte-names.ts). Bun reads names
 * as UTF-8 (a byte that is not becomes U+FFFD) and has no kinds with names as
 * bytes: a directory whose names do not all decode is read again, as bytes.
 */
function entries(dir: string): { name: string; isDir: boolean }[] {
  const found = readdirSync(fsPath(dir), { withFileTypes: true });
  if (!found.some((d) => d.name.includes("\ufffd")))
    return found.map((d) => ({ name: d.name, isDir: d.isDirectory() }));
  return readdirSync(fsPath(dir), { encoding: "buffer" }).map((bytes) => {
    const name = decodeName(bytes);
    return { name, isDir: lstatSync(fsPath(join(dir, name))).isDirectory() };
  });
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
