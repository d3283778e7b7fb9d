// The file-system store (TASKRUNNER_REMOTE_CACHE_DIR): the same key layout as
// the bucket, as files under one directory — a shared mount, a CI cache
// volume, or a local directory for trying things out.
//
// Every write goes to a temporary file beside its target and is renamed into
// place, so a reader (another build on the same share) sees either the old
// object or the whole new one, never a partial archive. No fsync: a torn file
// after a power cut is caught on restore as a corrupt archive, which is a miss.
import { createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { StoreError, type ObjectStore } from "./store";
import { describeError } from "../sys/errors";
import { isInside } from "../sys/paths";

export class FsStore implements ObjectStore {
  readonly description: string;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
    this.description = this.dir;
  }

  where(key: string): string {
    return join(this.dir, key);
  }

  async get(key: string): Promise<Readable | null> {
    return this.read(key, async (path) => (await open(path, "r")).createReadStream({ highWaterMark: 1 << 20 }));
  }

  async put(key: string, body: Readable): Promise<void> {
    const path = await this.path(key);
    await this.atomically(path, async (tmp) => {
      let writeFailed: unknown = null;
      const out = createWriteStream(tmp, { flags: "wx", highWaterMark: 1 << 20 });
      out.on("error", (e) => (writeFailed ??= e));
      try {
        await pipeline(body, out);
      } catch (e) {
        // Only the write side is the store's fault; a failing body (an
        // unreadable output) is the archive's and keeps its own error, even
        // though pipeline() passes it on to the file stream too.
        if (body.errored) throw body.errored;
        if (writeFailed) throw new StoreError(describeError(writeFailed), { cause: writeFailed });
        throw e;
      }
    });
  }

  async getText(key: string): Promise<string | null> {
    return this.read(key, (path) => readFile(path, "utf8"));
  }

  async putText(key: string, text: string): Promise<void> {
    const path = await this.path(key);
    await this.atomically(path, async (tmp) => {
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
    if (path === this.dir || !isInside(path, this.dir)) throw new StoreError(`key ${JSON.stringify(key)} leaves the cache directory ${this.dir}`);
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

  private async atomically(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (e) {
      throw new StoreError(`cannot create ${dirname(path)}: ${describeError(e)}`, { cause: e });
    }
    const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await write(tmp);
      await rename(tmp, path).catch((e) => {
        throw new StoreError(`cannot rename into ${path}: ${describeError(e)}`, { cause: e });
      });
    } catch (e) {
      await unlink(tmp).catch(() => {}); // it may never have been created
      throw e;
    }
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
