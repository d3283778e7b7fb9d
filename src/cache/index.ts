// The remote cache as the runner sees it: restore or save a task's outputs as
// an archive, read or move the fuzzy-cache pointer, upload a log. Faults are
// values, never exceptions: a cache is an optimisation, so an unreachable
// store, bad credentials, a corrupt archive or a failed upload end in a miss
// or a one-line "failed" message the runner prints as a warning, and the task
// goes on as if there were no cache.
//
// Opening is cheap (no I/O, no SDK, no tar): the heavy modules are imported on
// the first operation that needs them.
import { createReadStream } from "node:fs";
import { access } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Config } from "../config";
import type { Log } from "../sys/log";
import { FAILURE_LIMIT, FailureGate } from "../state/failure-gate";
import { FsStore } from "./fs-store";
import { S3Store } from "./s3-store";
import { DEFAULT_LIMITS, StoreError, seconds, watchStall, type Limits, type ObjectStore } from "./store";
import { describeError } from "../sys/errors";
import { metaFrame } from "./archive-meta";

/** "interrupted": cut short by the task's interruption, with nothing left behind (no staging directory, no partial object). */
export type RestoreOutcome =
  /** bytes: downloaded; runMs: how long the run that made the archive took, when it says (archive-meta.ts). */
  | { kind: "restored"; bytes: number; runMs: number | null }
  | { kind: "miss" }
  | { kind: "interrupted" }
  | { kind: "failed"; message: string };
/** "skipped": not attempted because the build already gave up on the store (said once, by FailureGate). */
export type SaveOutcome =
  | { kind: "saved"; bytes: number }
  | { kind: "skipped"; reason: string }
  | { kind: "interrupted" }
  | { kind: "failed"; message: string };
/**
 * An archive whose members and their metadata are taken (archive.ts
 * snapshotOutputs), to be written and uploaded now or later; a file written
 * in between fails the upload rather than tear the archive.
 */
export type PreparedSave =
  | { kind: "ready"; upload(opts?: SaveOptions): Promise<SaveOutcome> }
  | Exclude<SaveOutcome, { kind: "saved" | "interrupted" }>;

export interface SaveOptions {
  signal?: AbortSignal;
  /** Stored with the archive (cache/archive-meta.ts): a restore of it says how much time it saved. */
  runMs?: number;
}

export interface RestoreOptions {
  /** Runs once the archive exists, before extraction. */
  onFound?: () => void;
  /**
   * Where to stage the extraction, best first (restore.ts): places no input hash sees.
   * Asked only once the archive is found: finding them may start a git process, which a miss never needs.
   */
  stagingParents?: () => Promise<string[]>;
  /** The task's declared outputs as member names (as saveArchive takes them): each one the archive holds replaces what is there. */
  outputs?: string[];
  /** Aborts the transfer: the outcome is then "interrupted". */
  signal?: AbortSignal;
  /**
   * Every restored member gets the time the restore began, not its archived mtime (TASKRUNNER_RESTORE_MTIME):
   * what an exact hit vouches for then looks up to date with the checkout to make, tsc --build and the like.
   */
  stampRestoreTime?: boolean;
}

export interface RemoteCache {
  /** "s3://bucket/prefix/" or "/path/to/dir/prefix/", for messages. */
  readonly description: string;
  /** Key <prefix>bundles/<archiveName>, extracted into root. */
  restoreArchive(archiveName: string, root: string, opts?: RestoreOptions): Promise<RestoreOutcome>;
  /**
   * Outputs are paths relative to root, directories or files: the archive's member names (see snapshot/output-paths.ts).
   * An aborted signal stops the upload: no temporary file, no multipart upload left.
   */
  saveArchive(archiveName: string, root: string, outputs: string[], opts?: SaveOptions): Promise<SaveOutcome>;
  /** saveArchive in two steps: the outputs' metadata now, the archive and its upload when `upload` is called. */
  prepareSave(archiveName: string, root: string, outputs: string[]): Promise<PreparedSave>;
  /** Key <prefix>latest/<job>-<branch>.txt; null when absent or unreadable (a fault is warned about). */
  getLatestHash(job: string, branch: string): Promise<string | null>;
  setLatestHash(job: string, branch: string, hash: string): Promise<void>;
  /** Key <TASKRUNNER_LOGS_PREFIX><buildId>/<job>.log.txt; url = <TASKRUNNER_LOGS_VIEW_URL><buildId>/<job>.log.txt. */
  /** An aborted signal stops the upload: the answer is then { interrupted }. */
  uploadLog(buildId: string, job: string, logPath: string, opts?: { signal?: AbortSignal }): Promise<{ url: string } | { failed: string } | { interrupted: true }>;
}

/** `<job>[-<cache version>]-<hash>.tar.zst` (docs/contract.md §8). */
export function archiveName(job: string, cacheVersion: string | null, hash: string): string {
  return `${job}${cacheVersion ? `-${cacheVersion}` : ""}-${hash}.tar.zst`;
}

/**
 * The configured store, or null when none is. When both a directory and a
 * bucket are configured, the directory wins: TASKRUNNER_REMOTE_CACHE_DIR is
 * the more specific, deliberate setting (a developer pointing one shell at a
 * local cache), while a bucket often comes from CI-wide environment. Uploads
 * and log uploads follow the same choice.
 */
export function openRemoteCache(config: Config, log: Log, buildDir: string, limits: Partial<Limits> = {}): RemoteCache | null {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const { bucket } = config.s3;
  let store: ObjectStore;
  if (config.remoteCacheDir) {
    store = new FsStore(config.remoteCacheDir, (m) => log.debug(m));
    if (bucket) log.debug(`TASKRUNNER_REMOTE_CACHE_DIR and TASKRUNNER_REMOTE_CACHE_BUCKET are both set; using the directory ${config.remoteCacheDir}`);
  } else if (bucket) {
    store = new S3Store({ ...config.s3, bucket }, lim, (m) => log.debug(m));
  } else {
    return null;
  }
  return new StoreCache(store, config, log, new FailureGate(buildDir, "remote-cache", store.description, log), lim);
}

class StoreCache implements RemoteCache {
  readonly description: string;

  constructor(
    private readonly store: ObjectStore,
    private readonly config: Config,
    private readonly log: Log,
    private readonly gate: FailureGate,
    private readonly limits: Limits,
  ) {
    this.description = store.where(config.remoteCachePrefix);
  }

  async restoreArchive(name: string, root: string, opts: RestoreOptions = {}): Promise<RestoreOutcome> {
    const { signal } = opts;
    const key = `${this.config.remoteCachePrefix}bundles/${name}`;
    const where = this.store.where(key);
    if (this.switchedOff(`restore of ${where}`)) return { kind: "miss" };
    if (signal?.aborted) return { kind: "interrupted" };
    const started = performance.now();
    let body: Readable | null;
    try {
      body = await this.store.get(key, signal);
    } catch (e) {
      if (signal?.aborted) return this.interrupted(`download of ${where}`);
      return this.fault(`could not download ${where}: ${describeError(e)}`);
    }
    if (!body) {
      this.log.debug(`No remote cache archive at ${where}`);
      return { kind: "miss" };
    }
    opts.onFound?.();
    try {
      const { restoreInto } = await import("./restore");
      const received = { bytes: 0 };
      let runMs: number | null = null;
      const notes = await restoreInto(watchStall(body, this.limits.stallMs, received), root, {
        stagingParents: await opts.stagingParents?.(),
        outputs: opts.outputs,
        signal,
        parallelFrom: this.limits.parallelFrom,
        onMeta: (meta) => (runMs = meta.runMs),
        mtime: opts.stampRestoreTime ? new Date() : undefined,
      });
      for (const note of notes) this.log.debug(note);
      this.log.debug(`Restored ${where} into ${root} in ${elapsed(started)}`);
      return { kind: "restored", bytes: received.bytes, runMs };
    } catch (e) {
      body.destroy();
      if (signal?.aborted) return this.interrupted(`restore of ${where}`);
      if (e instanceof StoreError) return this.fault(`download of ${where} failed: ${e.message}`);
      return { kind: "failed", message: `could not restore ${where} into ${root}: ${describeError(e)}` };
    }
  }

  async saveArchive(name: string, root: string, outputs: string[], opts: SaveOptions = {}): Promise<SaveOutcome> {
    const prepared = await this.prepareSave(name, root, outputs);
    return prepared.kind === "ready" ? prepared.upload(opts) : prepared;
  }

  async prepareSave(name: string, root: string, outputs: string[]): Promise<PreparedSave> {
    const key = `${this.config.remoteCachePrefix}bundles/${name}`;
    const where = this.store.where(key);
    if (this.switchedOff(`upload of ${where}`)) return { kind: "skipped", reason: `the remote cache ${this.store.description} is off for this build` };
    const started = performance.now();
    const [{ checkOutputs, snapshotOutputs }, { packArchive }] = await Promise.all([import("./archive"), import("./tar-writer")]);
    const cannotArchive = (e: unknown) => ({ kind: "failed" as const, message: `could not archive the outputs in ${root}: ${describeError(e)}; nothing uploaded to ${where}` });
    let entries: ReturnType<typeof snapshotOutputs>;
    try {
      const checked = await checkOutputs(root, outputs);
      if (!checked.ok) return { kind: "failed", message: `${checked.message}; nothing uploaded to ${where}` };
      entries = snapshotOutputs(root, checked.members);
    } catch (e) {
      return cannotArchive(e);
    }
    const upload = async ({ signal, runMs }: SaveOptions = {}): Promise<SaveOutcome> => {
      if (this.switchedOff(`upload of ${where}`)) return { kind: "skipped", reason: `the remote cache ${this.store.description} is off for this build` };
      try {
        signal?.throwIfAborted();
        // Both stores give up cleanly on the signal: no temporary file, no multipart upload left.
        const sent = { bytes: 0 };
        const trailer = runMs === undefined ? undefined : metaFrame({ runMs: Math.round(runMs) });
        await this.store.put(key, packArchive(root, entries, { trailer, sent }), { signal });
        this.log.debug(`Saved ${outputs.join(" ")} (${entries.length} members) from ${root} to ${where} in ${elapsed(started)}`);
        return { kind: "saved", bytes: sent.bytes };
      } catch (e) {
        if (signal?.aborted) return this.interrupted(`upload to ${where}`);
        if (e instanceof StoreError) return this.fault(`upload to ${where} failed: ${e.message}`);
        return cannotArchive(e);
      }
    };
    return { kind: "ready", upload };
  }

  async getLatestHash(job: string, branch: string): Promise<string | null> {
    const where = this.store.where(this.latestKey(job, branch));
    if (this.switchedOff(`read of ${where}`)) return null;
    try {
      const text = await this.store.getText(this.latestKey(job, branch));
      const hash = text?.trim() || null;
      this.log.debug(hash ? `Latest hash at ${where}: ${hash}` : `No latest hash at ${where}`);
      return hash;
    } catch (e) {
      this.log.warn(this.fault(`could not read ${where}: ${describeError(e)}`).message);
      return null;
    }
  }

  async setLatestHash(job: string, branch: string, hash: string): Promise<void> {
    const where = this.store.where(this.latestKey(job, branch));
    if (this.switchedOff(`write of ${where}`)) return;
    try {
      await this.store.putText(this.latestKey(job, branch), hash);
      this.log.debug(`Latest hash ${hash} written to ${where}`);
    } catch (e) {
      this.log.warn(this.fault(`could not write ${where}: ${describeError(e)}`).message);
    }
  }

  async uploadLog(buildId: string, job: string, logPath: string, { signal }: { signal?: AbortSignal } = {}): Promise<{ url: string } | { failed: string } | { interrupted: true }> {
    const suffix = `${buildId}/${job}.log.txt`;
    const key = `${this.config.logsPrefix}${suffix}`;
    const where = this.store.where(key);
    if (this.gate.closed) return { failed: `the remote cache ${this.store.description} is off for this build; log not sent to ${where}` };
    try {
      await access(logPath);
    } catch {
      return { failed: `log file ${logPath} does not exist` };
    }
    try {
      await this.store.put(key, createReadStream(logPath), { contentType: "text/plain; charset=utf-8", signal });
    } catch (e) {
      if (signal?.aborted) {
        this.interrupted(`upload of the log to ${where}`);
        return { interrupted: true };
      }
      if (e instanceof StoreError) return { failed: this.fault(`upload to ${where} failed: ${e.message}`).message };
      return { failed: `could not read ${logPath}: ${describeError(e)}` };
    }
    const url = `${this.config.logsViewUrl}${suffix}`;
    this.log.debug(`Log uploaded to ${where}, viewable at ${url}`);
    return { url };
  }

  /** Not a fault of the store: not counted, and only a debug line (the runner says it was interrupted). */
  private interrupted(what: string): { kind: "interrupted" } {
    this.log.debug(`${what} stopped: the task was interrupted`);
    return { kind: "interrupted" };
  }

  private latestKey(job: string, branch: string): string {
    return `${this.config.remoteCachePrefix}latest/${job}-${branch}.txt`;
  }

  private switchedOff(what: string): boolean {
    if (!this.gate.closed) return false;
    this.log.debug(`Skipping ${what}: the remote cache is off for this build after repeated failures`);
    return true;
  }

  /**
   * A fault of the store: counted towards the build's limit, and said in one
   * line — which, for the fault that reaches the limit, also says the cache is
   * now off (so the build hears it once).
   */
  private fault(message: string): { kind: "failed"; message: string } {
    if (this.gate.record(message)) {
      message += `; that is ${FAILURE_LIMIT} remote cache failures in this build, so ${this.store.description} is not used for the rest of it`;
    }
    return { kind: "failed", message };
  }
}

function elapsed(started: number): string {
  return seconds(Math.round(performance.now() - started));
}
