// The file-system store (TASKRUNNER_REMOTE_CACHE_DIR): the same key layout as
// the bucket, as files under one directory — a shared mount, a CI cache
// volume, or a local directory for trying things out.
//
// Every write goes to a temporary file beside its target and is renamed into
// place, so a reader (another build on the same share) sees either the old
// object or the whole new one, never a partial archive. No fsync: a torn file
// after a power cut is caught on restore as a corrupt archive, which is a miss.
//
// A writer killed with SIGKILL (or a machine that went down) leaves its
// temporary file: `<key>.tmp-<pid>-<random>`, never read as an object. The
// first write into a directory removes such files that nobody has written
// to for STALE_TEMPORARY_MS. Age, not the pid, tells a dead writer: the
// directory may be shared by machines whose pids mean nothing here, and a
// live upload writes its file continuously (a stalled one gives up after
// 30 s, "Faults are misses").
import { createWriteStream } from "node:fs";
import { link, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { ObjectExists, StoreError, type ObjectStore, type PutOptions } from "./store";
import { describeError } from "../sys/errors";
import { isInside } from "../sys/paths";
import { markUsed } from "./last-used";
import { readPieces } from "./pieces";

/** A temporary file untouched for this long was left by a writer that is gone. */
export const STALE_TEMPORARY_MS = 3600_000;
export const TEMPORARY = /\.tmp-\d+-[0-9a-f]{8}$/;

export class FsStore implements ObjectStore {
  readonly description: string;
  readonly local = true;
  private readonly dir: string;
  /** Directories already swept for stale temporary files by this store. */
  private readonly swept = new Set<string>();

  constructor(
    dir: string,
    private readonly debug: (message: string) => void = () => {},
  ) {
    this.dir = resolve(dir);
    this.description = this.dir;
  }

  where(key: string): string {
    return join(this.dir, key);
  }

  /**
   * The archive is read from the descriptor opened here, never reopened by
   * path: a prune that removes it meanwhile (or a save that replaces it) does
   * not disturb the restore in progress. Opening marks it as used (last-used.ts).
   */
  async get(key: string): Promise<Readable | null> {
    return this.read(key, async (path) => {
      const handle = await open(path, "r");
      await markUsed(handle, path, this.debug);
      return readPieces(handle);
    });
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<void> {
    const { signal } = opts;
    const stop = () => body.destroy(signal?.reason); // the temporary file goes with the failed write
    signal?.throwIfAborted();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await this.write(key, body, opts.ifAbsent ?? false);
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  }

  private async write(key: string, body: Readable, ifAbsent: boolean): Promise<void> {
    const path = await this.path(key);
    await this.atomically(path, ifAbsent, async (tmp) => {
      // Only the write side is the store's fault (a full or read-only disk);
      // a failing body (an unreadable output) is the archive's. pipeline()
      // passes either side's error on to the other, so the side that failed
      // first is the one to blame.
      let firstFailed: "body" | "write" | null = null;
      body.on("error", () => (firstFailed ??= "body"));
      const out = createWriteStream(tmp, { flags: "wx", highWaterMark: 1 << 20 });
      out.on("error", () => (firstFailed ??= "write"));
      try {
        await pipeline(body, out);
      } catch (e) {
        if (firstFailed === "write") throw new StoreError(describeError(e), { cause: e });
        throw e;
      }
    });
  }

  async getText(key: string): Promise<string | null> {
    return this.read(key, (path) => readFile(path, "utf8"));
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | null> {
    return this.read(key, async (path) => {
      const st = await stat(path);
      return { size: st.size, modified: st.mtime };
    });
  }

  async putText(key: string, text: string, opts: PutOptions = {}): Promise<void> {
    const path = await this.path(key);
    await this.atomically(path, opts.ifAbsent ?? false, async (tmp) => {
      try {
        await writeFile(tmp, text, { flag: "wx" });
      } catch (e) {
        throw new StoreError(describeError(e), { cause: e });
      }
    });
  }

  /**
   * The file for key. The directory itself must exist: a missing one is more
   * likely an unmounted share or a typo than an empty cache, so it is a fault
   * (like a missing bucket), not a miss — and we never create it.
   */
  private async path(key: string): Promise<string> {
    try {
      if (!(await stat(this.dir)).isDirectory()) throw new Error("not a directory");
    } catch (e) {
      throw new StoreError(`cache directory ${this.dir} is not usable: ${describeError(e)}`, { cause: e });
    }
    const path = resolve(this.dir, key);
    if (path === this.dir || !isInside(path, this.dir))
      throw new StoreError(`key ${JSON.stringify(key)} leaves the cache directory ${this.dir}`);
    return path;
  }

  /** reader's answer for key's file; null when there is none, a StoreError when it cannot be read. */
  private async read<T>(key: string, reader: (path: string) => Promise<T>): Promise<T | null> {
    const path = await this.path(key);
    try {
      return await reader(path);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw new StoreError(describeError(e), { cause: e });
    }
  }

  /** write(tmp), then tmp becomes path: renamed over it, or with ifAbsent linked (which fails when path exists). */
  private async atomically(path: string, ifAbsent: boolean, write: (tmp: string) => Promise<void>): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (e) {
      throw new StoreError(`cannot create ${dirname(path)}: ${describeError(e)}`, { cause: e });
    }
    // Alongside the write, not before it: a directory of many archives takes a while to list.
    const swept = this.sweep(dirname(path));
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await write(tmp);
      if (ifAbsent && (await this.linked(tmp, path))) return;
      await rename(tmp, path).catch((e) => {
        throw new StoreError(`cannot rename into ${path}: ${describeError(e)}`, { cause: e });
      });
    } catch (e) {
      await unlink(tmp).catch(() => {}); // it may never have been created
      throw e;
    } finally {
      await swept;
    }
  }

  /**
   * link(2) is the directory's compare-and-swap: it fails when path exists.
   * True once tmp is at path (tmp is then removed); false when this file
   * system has no hard links, and the caller renames instead.
   */
  private async linked(tmp: string, path: string): Promise<boolean> {
    try {
      await link(tmp, path);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EEXIST") throw new ObjectExists(path);
      if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS") {
        this.debug(`${this.dir} has no hard links (${code}): ${path} is written without checking that it is absent`);
        return false;
      }
      throw new StoreError(`cannot link into ${path}: ${describeError(e)}`, { cause: e });
    }
    await unlink(tmp).catch((e) => this.debug(`cannot remove ${tmp}: ${describeError(e)}`));
    return true;
  }

  /** Removes the temporary files in dir that no writer has touched for STALE_TEMPORARY_MS (once per directory). */
  private async sweep(dir: string): Promise<void> {
    if (this.swept.has(dir)) return;
    this.swept.add(dir);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      this.debug(`Cannot look for stale temporary files in ${dir}: ${describeError(e)}`);
      return;
    }
    for (const name of names.filter((n) => TEMPORARY.test(n))) {
      const path = join(dir, name);
      try {
        if (Date.now() - (await stat(path)).mtimeMs < STALE_TEMPORARY_MS) continue;
        await unlink(path);
        this.debug(`Removed ${path}: a temporary file no upload has written to for over 1 hour`);
      } catch (e) {
        // Another build removed it first, or it cannot be: either way not this upload's concern.
        if (!isNotFound(e)) this.debug(`Cannot remove the stale temporary file ${path}: ${describeError(e)}`);
      }
    }
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
