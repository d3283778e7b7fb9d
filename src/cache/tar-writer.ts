// Writing an archive: tar members straight into zstd frames.
//
// node-tar's Pack costs ~2× GNU tar in main-thread time (a thread-pool trip
// per stat/open/read/close, a stream hop per chunk), and one zstd stream
// compresses on one core. Here file bytes are read synchronously straight
// into a 4 MB frame buffer, and full frames are compressed on the thread pool,
// one per core at a time, while the next frame fills. The headers are still
// node-tar's (Header, Pax), so the format is the one node-tar and GNU tar read.
//
// The result is a sequence of independent zstd frames, which every zstd
// decoder reads as one stream (`zstd -d`, GNU tar --zstd, node:zlib), each
// with the content checksum the zstd CLI also writes.
import { closeSync, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { availableParallelism } from "node:os";
import { Readable } from "node:stream";
import { Header, Pax, type HeaderData } from "tar";
import type { OutputEntry } from "./archive";
import { FrameGarbage } from "./memory";
import { ArchiveError } from "./store";
import { byteNamedHeader } from "./tar-byte-names";
import { fsPath, hasEscapedBytes } from "../sys/byte-names";
// Not node:path: Bun's turns an escaped byte (sys/byte-names.ts) into U+FFFD.
import { joinPath as join } from "../sys/paths";

export const ZSTD_LEVEL = 3;
const FRAME = 4 << 20;
const ZEROS = Buffer.alloc(1024);
/**
 * Files are read synchronously, so the archive gives the event loop back this
 * often: in the background (task/background-uploads.ts) it shares the
 * toplevel's thread with the nested tasks it serves, and reading a 24 MB,
 * 2,000-file output in one go held the next task's start back by ~140 ms.
 */
const SLICE_MS = 4;

/** trailer: bytes after the archive (a skippable frame: archive-meta.ts); sent: counts the bytes written. */
export interface PackOptions {
  trailer?: Buffer;
  sent?: { bytes: number };
}

/**
 * tar → zstd: the archive of `entries` (paths relative to root, in this order,
 * with their metadata: archive.ts snapshotOutputs) as a byte stream. The
 * stream fails when a file is not as its entry says any more.
 */
export function packArchive(root: string, entries: OutputEntry[], opts: PackOptions = {}): Readable {
  return Readable.from(counted(frames(root, entries), opts), { objectMode: false, highWaterMark: FRAME });
}

/** The frames, then the trailer (a skippable frame: cache/archive-meta.ts), counting the bytes. */
async function* counted(source: AsyncGenerator<Buffer>, opts: PackOptions): AsyncGenerator<Buffer> {
  const sent = opts.sent ?? { bytes: 0 };
  for await (const piece of source) {
    sent.bytes += piece.length;
    yield piece;
  }
  if (opts.trailer) {
    sent.bytes += opts.trailer.length;
    yield opts.trailer;
  }
}

async function* frames(root: string, entries: OutputEntry[]): AsyncGenerator<Buffer> {
  const parallel = Math.max(2, availableParallelism());
  const spare: Buffer[] = [];
  let buf: Buffer = Buffer.allocUnsafe(FRAME);
  let len = 0;
  const garbage = new FrameGarbage();
  const inflight: Promise<{ out: Buffer[]; input: Buffer }>[] = [];

  // Hands the full frame to the thread pool; yields finished frames, in order,
  // while as many are in flight as there are cores.
  async function* frameFull(final = false): AsyncGenerator<Buffer> {
    if (len > 0) {
      const input = buf;
      const compressed = compressFrame(input.subarray(0, len)).then((out) => ({ out, input }));
      compressed.catch(() => {}); // awaited in order; one abandoned with the stream must not be an unhandled rejection
      inflight.push(compressed);
      buf = spare.pop() ?? Buffer.allocUnsafe(FRAME);
      len = 0;
    }
    while (inflight.length >= (final ? 1 : parallel)) {
      const done = await inflight.shift()!;
      spare.push(done.input);
      yield* done.out;
      garbage.afterFrame();
    }
  }

  async function* put(bytes: Buffer): AsyncGenerator<Buffer> {
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(FRAME - len, bytes.length - off);
      bytes.copy(buf, len, off, off + n);
      len += n;
      off += n;
      if (len === FRAME) yield* frameFull();
    }
  }

  const firstName = new Map<string, string>(); // dev:ino → member, for hard links
  let slice = performance.now();
  async function breathe(): Promise<void> {
    if (performance.now() - slice < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    slice = performance.now();
  }
  for (const { member, stats: st, link } of entries) {
    await breathe();
    const abs = member === "." ? root : join(root, member);
    const entry = describe(member, st, link, firstName);
    if (!entry) continue;
    if (hasEscapedBytes(entry.path!) || hasEscapedBytes(entry.linkpath ?? "")) {
      yield* put(byteNamedHeader(entry));
    } else {
      const header = new Header(entry);
      if (header.encode()) {
        // Long names, big sizes: a pax header first, as node-tar and GNU tar do.
        yield* put(
          new Pax({ path: entry.path, linkpath: entry.linkpath, size: entry.size, mtime: entry.mtime }).encode(),
        );
      }
      yield* put(header.block!);
    }
    if (entry.type !== "File" || !entry.size) continue;
    const fd = openSync(fsPath(abs), "r");
    try {
      unchanged(abs, st, fstatSync(fd));
      for (let pos = 0; pos < entry.size; ) {
        const n = readSync(fd, buf, len, Math.min(FRAME - len, entry.size - pos), pos);
        if (n === 0) throw new ArchiveError(`${abs} shrank while it was being archived`);
        len += n;
        pos += n;
        if (len === FRAME) {
          yield* frameFull();
          await breathe();
        }
      }
      unchanged(abs, st, fstatSync(fd));
    } finally {
      closeSync(fd);
    }
    yield* put(ZEROS.subarray(0, (512 - (entry.size % 512)) % 512));
  }
  yield* put(ZEROS); // end-of-archive marker: two zero blocks
  yield* frameFull(true);
}

/**
 * The header for one member, or null for what a build cache has no use for
 * (sockets, devices, FIFOs). Modes lose setuid/setgid: the old tool restores
 * with GNU tar, which as root would recreate them.
 */
function describe(
  member: string,
  st: Stats,
  link: string | undefined,
  firstName: Map<string, string>,
): HeaderData | null {
  const base = { mode: st.mode & 0o7777 & ~0o6000, uid: st.uid, gid: st.gid, mtime: st.mtime, size: 0 };
  if (st.isDirectory()) return { ...base, path: member.endsWith("/") ? member : `${member}/`, type: "Directory" };
  if (st.isSymbolicLink()) return { ...base, path: member, type: "SymbolicLink", linkpath: link ?? "" };
  if (!st.isFile()) return null;
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = firstName.get(key);
    if (first !== undefined) return { ...base, path: member, type: "Link", linkpath: first };
    firstName.set(key, member);
  }
  return { ...base, path: member, type: "File", size: st.size };
}

/**
 * A file written since its entry was taken (by a later task, while the upload ran in the background): the archive would
 * be torn.
 */
function unchanged(abs: string, then: Stats, now: Stats): void {
  if (now.ino === then.ino && now.size === then.size && now.mtimeMs === then.mtimeMs && now.ctimeMs === then.ctimeMs)
    return;
  throw new ArchiveError(`${abs} changed after the task ended (did a later task write it?)`);
}

/**
 * One zstd frame at level 3, plus its content checksum: Bun's one-shot
 * compressor (the fastest zstd binding here) has no checksum option, so the
 * flag is set in the frame header and the checksum appended, as RFC 8878
 * §3.1.1 defines it (low 32 bits of XXH64, seed 0, little-endian).
 */
async function compressFrame(data: Buffer): Promise<Buffer[]> {
  const sum = Buffer.allocUnsafe(4);
  sum.writeUInt32LE(Number(Bun.hash.xxHash64(data) & 0xffffffffn));
  const z = await Bun.zstdCompress(data, { level: ZSTD_LEVEL });
  if (z.readUInt32LE(0) !== 0xfd2fb528) throw new Error("zstd produced an unexpected frame");
  if (z[4] & 0x04) return [z]; // already has a checksum
  z[4] |= 0x04;
  return [z, sum];
}
