// Creating an archive's files on several threads.
//
// A restore is bound by file creation: creating a file costs the kernel tens
// of microseconds on ext4 (far more while it skips recently deleted inodes),
// and GNU tar creates one after another. The extractor (tar-reader.ts) still
// reads the stream and decides every member on the main thread, safety checks
// included; this pool only makes the system calls it asks for, on a few worker
// threads: file data through a ring buffer shared with them, the operations in
// batches, each encoded in a buffer that is moved to the worker (not copied)
// and comes back with its answer (Batch, at the end). A small archive never
// starts a worker: its operations run on the main thread as they come.
//
// Order. Everything made in one directory is made by one worker, in order
// (two threads creating files in one directory take turns at its lock, and
// spin on it: two workers were slower than one); a directory goes to the
// worker with the least work waiting when its first entry comes. A worker
// that finds a member's directory missing (its mkdir is queued on another
// worker) creates it: the extractor has checked that every parent of the
// member is a directory of the archive, so this only makes what would be made
// anyway, and restore.ts reapplies directory modes at the end. What must see
// earlier members complete — a hard link (its target), replacing an earlier
// member — waits until every worker is idle and runs on the main thread.
import fs from "node:fs";
import { availableParallelism } from "node:os";
import { ArchiveError } from "./store";
import { fsPath } from "../sys/byte-names";

const MKDIR = 0;
const OPEN = 1;
const WRITE = 2;
const CLOSE = 3;
const SYMLINK = 4;
/** A batch's first bytes: its sending's id and where its operations end (u32 each). */
const HEADER = 8;

/** The file open on the executing thread, between an OPEN and its CLOSE. */
interface Open {
  fd: number;
}

/**
 * Runs a batch of operations, encoded by Batch (below), from byte `at` to
 * `end` of `ops`: each a code byte, then little-endian fields — [MKDIR, mode
 * u32, path], [OPEN, mode u32, path], [WRITE, offset u32, length u32] (bytes
 * of `data`), [CLOSE, mtime f64 in milliseconds or -1], [SYMLINK, path,
 * target] — a name being its length (u32) and its bytes, as they go to the
 * file system. Returns early when `stop()` says so.
 *
 * Self-contained, because it is also each worker's code (as text): it uses
 * nothing but its parameters.
 */
function runOps(
  fs: typeof import("node:fs"),
  data: Uint8Array,
  ops: Buffer,
  at: number,
  end: number,
  open: Open,
  stop: () => boolean,
): void {
  const view = new DataView(ops.buffer, ops.byteOffset, ops.byteLength);
  const name = (from: number) => ops.subarray(from + 4, from + 4 + view.getUint32(from, true));
  // Creates the missing parent directory of `path` (absolute, normalised) and retries, once.
  const withParent = (path: Buffer, make: () => void) => {
    try {
      make();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      fs.mkdirSync(path.subarray(0, Math.max(1, path.lastIndexOf(0x2f))), { recursive: true });
      make();
    }
  };
  for (let i = at; i < end && !stop(); ) {
    // The codes of MKDIR, OPEN, WRITE, CLOSE, SYMLINK: this text cannot refer to them.
    switch (ops[i]) {
      case 0: {
        const mode = view.getUint32(i + 1, true);
        const path = name(i + 5);
        i += 9 + path.length;
        withParent(path, () => {
          try {
            fs.mkdirSync(path, mode);
          } catch (e) {
            // Made already by a worker that needed it for a member inside.
            if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !fs.lstatSync(path).isDirectory()) throw e;
          }
        });
        break;
      }
      case 1: {
        const mode = view.getUint32(i + 1, true);
        const path = name(i + 5);
        i += 9 + path.length;
        withParent(path, () => {
          open.fd = fs.openSync(path, "wx", mode);
        });
        break;
      }
      case 2: {
        const from = view.getUint32(i + 1, true);
        const until = from + view.getUint32(i + 5, true);
        i += 9;
        for (let next = from; next < until; ) next += fs.writeSync(open.fd, data, next, until - next);
        break;
      }
      case 3: {
        const mtime = view.getFloat64(i + 1, true);
        i += 9;
        const fd = open.fd;
        open.fd = -1;
        try {
          // As a Date: seconds as a fraction land a few nanoseconds off (…283 s → …282999992 ns), apart
          // from the directories' times, which restore.ts sets from the same Date.
          if (mtime >= 0) fs.futimesSync(fd, new Date(mtime), new Date(mtime));
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 4: {
        const path = name(i + 1);
        const target = name(i + 5 + path.length);
        i += 9 + path.length + target.length;
        withParent(path, () => fs.symlinkSync(target, path));
        break;
      }
      default:
        throw new Error(`unknown operation ${ops[i]}`);
    }
  }
}

/**
 * A worker: runs each batch it is sent, then says so — by message (with the
 * error, if one failed, and the batch's buffer, for the next batch) and in
 * its slot of the shared counters. After a failure, or once the pool is
 * stopped, it only acknowledges batches.
 * Self-contained, like runOps: it becomes the worker's code as text.
 */
function workerMain(run: typeof runOps): void {
  const fs = process.getBuiltinModule("node:fs") as typeof import("node:fs");
  let ring: Uint8Array = new Uint8Array(0);
  let ctl: Int32Array = new Int32Array(1);
  let slot = 0;
  let failed = false;
  let collectEvery = 0;
  let sinceCollected = 0;
  const open = { fd: -1 };
  const stopped = () => Atomics.load(ctl, 0) !== 0;
  addEventListener("message", (ev: MessageEvent) => {
    const m = ev.data as { ring: SharedArrayBuffer; ctl: SharedArrayBuffer; slot: number; collectEvery: number };
    if (!(m instanceof ArrayBuffer)) {
      ring = new Uint8Array(m.ring);
      ctl = new Int32Array(m.ctl);
      slot = m.slot;
      collectEvery = m.collectEvery;
      return;
    }
    const head = new DataView(m);
    const id = head.getUint32(0, true);
    const end = head.getUint32(4, true);
    let error: { message: string; code?: string } | undefined;
    if (!failed && !stopped()) {
      try {
        run(fs, ring, Buffer.from(m), 8, end, open, stopped); // 8: HEADER, which this text cannot refer to
      } catch (e) {
        failed = true;
        error = { message: (e as Error).message, code: (e as NodeJS.ErrnoException).code };
      }
    }
    if ((failed || stopped()) && open.fd >= 0) {
      try {
        fs.closeSync(open.fd);
      } catch {
        // Closing a descriptor we opened fails only if it is already closed.
      }
      open.fd = -1;
    }
    Atomics.add(ctl, slot, 1);
    Atomics.notify(ctl, slot);
    postMessage({ id, error, ops: m }, [m]);
    // A worker's garbage (a Buffer per name, two Dates per file) is collected
    // lazily; so collect it now and then, after answering (see COLLECT_EVERY).
    sinceCollected += end;
    if (sinceCollected >= collectEvery) {
      sinceCollected = 0;
      Bun.gc(true);
    }
  });
}

// A worker's code comes as text, not from a file: a compiled binary looks a
// worker path up in the current directory unless it is an entry point of the
// build, and import.meta.url there is the build machine's path.
const WORKER_SOURCE = `(${workerMain.toString()})(${runOps.toString()})`;

export interface PoolOptions {
  /** Files (or megabytes of file data, counted 1:1) after which workers start; 0: from the first. */
  parallelFrom?: number;
  /**
   * Worker threads; default: one per core but the main thread's, 1 to 3. The
   * main thread and the decoding keep one core busy: on 2 cores a second
   * worker gained no time and held ~7 MiB more (bench/README.md).
   */
  workers?: number;
  /** Makes waiting calls reject at once with its reason. */
  signal?: AbortSignal;
}

/** Files and bytes below which an archive is written on the main thread (a worker costs ~4 ms to start). */
const PARALLEL_FROM = 64;
/** Shared buffer for file data on its way to the workers. */
const RING = 4 << 20;
/** Operations (array slots) waiting or in flight at most: bounds memory for archives of many empty files. */
const MAX_OPS = 1 << 18;
/**
 * Operations (array slots, ~8 a file) queued for a worker after which they
 * are sent: to an idle worker, or to a busy one. Fewer, bigger batches: a
 * message costs ~20–30 µs of the main thread (waking the worker), and one per
 * 256 KB of tar was a tenth of its time. The extractor also sends what is
 * queued after each decoded frame (flush), so nothing waits for the download.
 */
const IDLE_BATCH = 1 << 9;
const MIN_BATCH = 1 << 12;
/**
 * Bytes of batches (~130 a file) after which a worker collects its garbage, a
 * few times per restore of a node_modules. When batches were strings, leaving
 * the workers to collect when they saw fit peaked ~10 MB higher; since they
 * are buffers, collecting every 256 KB or 4 MB made no difference
 * (bench/README.md).
 */
const COLLECT_EVERY = 1 << 20;
/** A batch's first buffer; it grows as needed, and is reused once the worker hands it back. */
const BATCH = 64 << 10;
/** A barrier gives up on workers that finished nothing for this long. */
const STUCK_MS = 60_000;

/** A worker's answer to a batch: the batch's buffer back, and the error it stopped at, if any. */
interface Answer {
  id: number;
  error?: { message: string; code?: string };
  ops: ArrayBuffer;
}

interface PoolWorker {
  worker: Worker;
  /** Its slot in the shared counters: batches it has finished. */
  slot: number;
  posted: number;
  /** Operations not sent yet. */
  batch: Batch;
  /** Operations (array slots) queued or sent and not yet done. */
  load: number;
  /** The size of each batch sent and not yet done, in order. */
  batches: number[];
}

/**
 * Carries out the extractor's file operations, in the order it asks for them,
 * on the main thread or on worker threads. Between calls to write() the
 * caller awaits ready(bytes); finish() waits for everything and reports the
 * first failure; stop() ends the workers (closing any file they hold) and must
 * be awaited before the directory is removed.
 */
export class WritePool {
  private readonly open: Open = { fd: -1 };
  /** The operation the main thread runs next, while it does the writing. */
  private readonly local = new Batch(256);
  /** Batch buffers the workers handed back (as many as were ever in flight at once). */
  private readonly spare: ArrayBuffer[] = [];
  private readonly parallelFrom: number;
  private readonly size: number;
  private workers: PoolWorker[] = [];
  private ring: Uint8Array | null = null;
  private ctl: Int32Array | null = null;
  private url: string | null = null;
  /** Ring bytes handed out and released, counted from the start (a position is `count % RING`). */
  private head = 0;
  private tail = 0;
  /** Each sending of batches: the ring position it covers and how many of its batches are unfinished. */
  private readonly sends: { id: number; end: number; pending: number; ops: number }[] = [];
  private nextSend = 0;
  private inFlightOps = 0;
  private current: PoolWorker | null = null;
  /** Which worker makes the entries of each directory (ownerOf). */
  private readonly owners = new Map<string, PoolWorker>();
  private lastDir = "";
  private lastOwner: PoolWorker | null = null;
  /** Files, and bytes of file data, written on the main thread so far. */
  private seen = 0;
  private bytes = 0;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = () => this.fail(this.signal!.reason as Error);

  constructor(opts: PoolOptions = {}) {
    this.parallelFrom = opts.parallelFrom ?? PARALLEL_FROM;
    this.size = opts.workers ?? Math.min(3, Math.max(1, availableParallelism() - 1));
    this.signal = opts.signal;
    this.signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  /** A directory; mode as for mkdir(2). */
  mkdir(path: string, mode: number): void {
    const w = this.ownerOf(path);
    this.added(w, this.batchOf(w).named(MKDIR, mode, path));
  }

  openFile(path: string, mode: number): void {
    if (!this.ring && this.seen + this.bytes / (1 << 20) >= this.parallelFrom) this.start();
    this.seen++;
    this.current = this.ownerOf(path);
    this.added(this.current, this.batchOf(this.current).named(OPEN, mode, path));
  }

  /** Appends to the open file. */
  write(bytes: Uint8Array): void {
    if (!this.current) {
      this.bytes += bytes.length;
      this.local.write(0, bytes.length);
      this.runLocal(bytes);
      return;
    }
    let at = this.head % RING;
    if (at + bytes.length > RING) {
      this.head += RING - at; // the rest of the lap stays unused
      at = 0;
    }
    this.ring!.set(bytes, at);
    this.head += bytes.length;
    this.added(this.current, this.current.batch.write(at, bytes.length));
  }

  closeFile(mtime: Date | undefined): void {
    this.added(this.current, this.batchOf(this.current).close(mtime ? mtime.getTime() : -1));
    this.current = null;
  }

  symlink(path: string, target: string): void {
    const w = this.ownerOf(path);
    this.added(w, this.batchOf(w).symlink(path, target));
  }

  /** A hard link to `target`, which must be complete: after everything asked for so far. */
  link(target: string, path: string): void {
    this.drain();
    fs.linkSync(fsPath(target), fsPath(path));
  }

  /** Removes what earlier members made at `path`: after everything asked for so far. */
  remove(path: string): void {
    this.drain();
    fs.rmSync(fsPath(path), { recursive: true, force: true });
  }

  /**
   * Resolves once the ring has room for `bytes` more. Rejects with a worker's
   * failure. Sends what is queued once a worker's batch is big enough (see
   * IDLE_BATCH), or when there is no room.
   */
  async ready(bytes: number): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      let queued = 0;
      let hungry = false;
      for (const w of this.workers) {
        queued += w.batch.slots;
        hungry ||= w.batch.slots >= (w.batches.length === 0 ? IDLE_BATCH : MIN_BATCH);
      }
      // A write may waste the rest of a lap: room for twice what is asked.
      const room = RING - (this.head - this.tail) >= 2 * bytes && this.inFlightOps + queued < MAX_OPS;
      if (hungry || !room) this.send();
      if (room) return;
      await this.progress();
    }
  }

  /** Sends what is queued (before the caller waits for input: the workers need not wait with it). */
  flush(): void {
    this.send();
  }

  /** Waits for every operation; rejects with the first failure. */
  async finish(): Promise<void> {
    this.send();
    while (this.sends.length > 0 && !this.failure) await this.progress();
    if (this.failure) throw this.failure;
  }

  /** Ends the workers; a file one holds open is closed first. Never rejects. */
  async stop(): Promise<void> {
    this.signal?.removeEventListener("abort", this.onAbort);
    if (this.open.fd >= 0) {
      fs.closeSync(this.open.fd);
      this.open.fd = -1;
    }
    if (!this.ctl) return;
    Atomics.store(this.ctl, 0, 1);
    // Every worker gets a batch, empty if need be: a worker closes the file it
    // holds open (its CLOSE not sent yet) when it finishes a batch.
    this.send(true);
    const deadline = Date.now() + 5000;
    while (this.sends.length > 0 && Date.now() < deadline) await this.progress(deadline - Date.now());
    for (const w of this.workers) w.worker.terminate();
    this.workers = [];
    if (this.url) URL.revokeObjectURL(this.url);
  }

  /**
   * The worker that makes what goes in `path`'s directory (see the top), or null while the main thread does the
   * writing.
   */
  private ownerOf(path: string): PoolWorker | null {
    if (this.workers.length === 0) return null;
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir === this.lastDir) return this.lastOwner!;
    let owner = this.owners.get(dir);
    if (!owner) {
      owner = this.workers.reduce((a, b) => (b.load < a.load ? b : a));
      this.owners.set(dir, owner);
    }
    this.lastDir = dir;
    this.lastOwner = owner;
    return owner;
  }

  /** Where an operation for `worker` goes: its batch, or while the main thread does the writing, this.local. */
  private batchOf(worker: PoolWorker | null): Batch {
    return worker ? worker.batch : this.local;
  }

  /** An operation of `slots` was added to batchOf(worker): counted, or run now on the main thread. */
  private added(worker: PoolWorker | null, slots: number): void {
    if (worker) worker.load += slots;
    else this.runLocal(EMPTY);
  }

  private runLocal(data: Uint8Array): void {
    try {
      runOps(fs, data, this.local.bytes, HEADER, this.local.end, this.open, never);
    } finally {
      this.local.clear();
    }
  }

  private start(): void {
    const ring = new SharedArrayBuffer(RING);
    const ctl = new SharedArrayBuffer(4 * (this.size + 1));
    this.ring = new Uint8Array(ring);
    this.ctl = new Int32Array(ctl);
    // Workers load their code asynchronously: the URL lives until stop().
    this.url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(this.url);
      const w: PoolWorker = { worker, slot: i + 1, posted: 0, batch: new Batch(), load: 0, batches: [] };
      worker.onmessage = (ev: MessageEvent) => this.onDone(w, ev.data as Answer);
      worker.onerror = (ev) => this.fail(new Error(`a file-writing thread failed: ${ev.message}`));
      worker.postMessage({ ring, ctl, slot: w.slot, collectEvery: COLLECT_EVERY });
      this.workers.push(w);
    }
  }

  /** Sends each worker its queued operations (every worker a batch, empty if need be: everyWorker), as one sending. */
  private send(everyWorker = false): void {
    const send = { id: this.nextSend++, end: this.head, pending: 0, ops: 0 };
    for (const w of this.workers) {
      const batch = w.batch;
      if (batch.slots === 0 && !everyWorker) continue;
      batch.view.setUint32(0, send.id, true);
      batch.view.setUint32(4, batch.end, true);
      // Its buffer is moved to the worker, not copied; it comes back with the answer, for a later batch.
      w.worker.postMessage(batch.buffer, [batch.buffer]);
      send.ops += batch.slots;
      w.batches.push(batch.slots);
      w.batch = new Batch(this.spare.pop());
      w.posted++;
      send.pending++;
    }
    if (send.pending === 0) return;
    this.inFlightOps += send.ops;
    this.sends.push(send);
  }

  private onDone(w: PoolWorker, m: Answer): void {
    this.spare.push(m.ops);
    if (m.error) this.fail(Object.assign(new Error(m.error.message), { code: m.error.code }));
    w.load -= w.batches.shift() ?? 0;
    const send = this.sends.find((s) => s.id === m.id);
    if (send) send.pending--;
    // Ring space comes back in order: up to the last sending finished along with all before it.
    while (this.sends.length > 0 && this.sends[0].pending === 0) {
      const done = this.sends.shift()!;
      this.tail = done.end;
      this.inFlightOps -= done.ops;
    }
    this.wakeUp();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private progress(ms = STUCK_MS): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * Blocks until every worker has run everything sent to it: the main thread
   * then sees every earlier member on disk. Rare (hard links, a member
   * replacing another), so waiting synchronously keeps the extractor simple.
   */
  private drain(): void {
    this.send();
    for (const w of this.workers) {
      let seen = Atomics.load(this.ctl!, w.slot);
      let since = Date.now();
      while (seen < w.posted) {
        Atomics.wait(this.ctl!, w.slot, seen, 1000);
        const now = Atomics.load(this.ctl!, w.slot);
        if (now !== seen) since = Date.now();
        else if (Date.now() - since > STUCK_MS)
          throw new ArchiveError(`a file-writing thread finished nothing for ${STUCK_MS / 1000} s`);
        seen = now;
      }
    }
  }
}

const EMPTY = new Uint8Array(0);
const never = () => false;

/**
 * Operations for one thread, encoded as runOps reads them, after HEADER bytes
 * that send() fills in. Each method returns what the operation counts for in
 * MAX_OPS and the batch sizes (array slots, ~8 a file: what they were first
 * measured in).
 */
class Batch {
  buffer!: ArrayBuffer;
  bytes!: Buffer;
  view!: DataView;
  end = HEADER;
  slots = 0;

  constructor(buffer: ArrayBuffer | number = BATCH) {
    this.use(typeof buffer === "number" ? new ArrayBuffer(buffer) : buffer);
  }

  /** MKDIR or OPEN. */
  named(code: typeof MKDIR | typeof OPEN, mode: number, path: string): number {
    this.room(this.end + 5);
    this.bytes[this.end] = code;
    this.view.setUint32(this.end + 1, mode, true);
    this.end = this.name(this.end + 5, path);
    return this.counted(3);
  }

  write(at: number, length: number): number {
    this.room(this.end + 9);
    this.bytes[this.end] = WRITE;
    this.view.setUint32(this.end + 1, at, true);
    this.view.setUint32(this.end + 5, length, true);
    this.end += 9;
    return this.counted(3);
  }

  /** mtime: in milliseconds, or -1 to leave it. */
  close(mtime: number): number {
    this.room(this.end + 9);
    this.bytes[this.end] = CLOSE;
    this.view.setFloat64(this.end + 1, mtime, true);
    this.end += 9;
    return this.counted(2);
  }

  symlink(path: string, target: string): number {
    this.room(this.end + 1);
    this.bytes[this.end] = SYMLINK;
    this.end = this.name(this.name(this.end + 1, path), target);
    return this.counted(3);
  }

  clear(): void {
    this.end = HEADER;
    this.slots = 0;
  }

  private counted(slots: number): number {
    this.slots += slots;
    return slots;
  }

  /** Writes `name` at `at` as its length and its bytes (sys/byte-names.ts); where it ends. */
  private name(at: number, name: string): number {
    const raw = fsPath(name);
    let length: number;
    if (typeof raw === "string") {
      this.room(at + 4 + 3 * raw.length); // UTF-8 takes at most 3 bytes per UTF-16 unit
      length = this.bytes.write(raw, at + 4);
    } else {
      this.room(at + 4 + raw.length);
      length = raw.copy(this.bytes, at + 4);
    }
    this.view.setUint32(at, length, true);
    return at + 4 + length;
  }

  /** Grows the buffer to hold `until` bytes, keeping what it holds. */
  private room(until: number): void {
    if (until <= this.buffer.byteLength) return;
    const grown = new ArrayBuffer(Math.max(2 * this.buffer.byteLength, until));
    new Uint8Array(grown).set(new Uint8Array(this.buffer));
    this.use(grown);
  }

  private use(buffer: ArrayBuffer): void {
    this.buffer = buffer;
    this.bytes = Buffer.from(buffer);
    this.view = new DataView(buffer);
  }
}
