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
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { Config } from "../config";
import type { Log } from "../sys/log";
import { FAILURE_LIMIT, FailureGate } from "../state/failure-gate";
import { FsStore } from "./fs-store";
import { S3Store } from "./s3-store";
import { ArchiveError, DEFAULT_LIMITS, ObjectExists, StoreError, seconds, watchStall } from "./store";
import type { Limits, ObjectStore } from "./store";
import { describeError } from "../sys/errors";
import { metaFrame } from "./archive-meta";
import { Trust, digesting, sha256 } from "./trust";
import { Digest, SignatureRefused, bytesCheck, sidecarKey, signStatement, type Identity } from "./signature";

/**
 * "interrupted": cut short by the task's interruption, with nothing left behind (no staging directory, no partial
 * object).
 */
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
  /**
   * The task's declared outputs as member names (as saveArchive takes them): each one the archive holds replaces what
   * is there.
   */
  outputs?: string[];
  /** Aborts the transfer: the outcome is then "interrupted". */
  signal?: AbortSignal;
  /** What the archive is (job, cache version, hash): a signature must be for exactly this. */
  identity?: Identity;
  /**
   * Every restored member gets the time the restore began, not its archived mtime (TASKRUNNER_RESTORE_MTIME):
   * what an exact hit vouches for then looks up to date with the checkout to make, tsc --build and the like.
   */
  stampRestoreTime?: boolean;
}

export interface PrepareOptions {
  /** What the archive is: its signature binds it. */
  identity?: Identity;
  /** -f: rewrite the key whatever it holds. */
  force?: boolean;
}

export interface RemoteCache {
  /** "s3://bucket/prefix/" or "/path/to/dir/prefix/", for messages. */
  readonly description: string;
  /** Key <prefix>bundles/<archiveName>, extracted into root. */
  restoreArchive(archiveName: string, root: string, opts?: RestoreOptions): Promise<RestoreOutcome>;
  /**
   * Outputs are paths relative to root, directories or files: the archive's member names (see
   * snapshot/output-paths.ts).
   * An aborted signal stops the upload: no temporary file, no multipart upload left.
   */
  saveArchive(archiveName: string, root: string, outputs: string[], opts?: SaveOptions): Promise<SaveOutcome>;
  /** saveArchive in two steps: the outputs' metadata now, the archive and its upload when `upload` is called. */
  prepareSave(archiveName: string, root: string, outputs: string[], opts?: PrepareOptions): Promise<PreparedSave>;
  /** Key <prefix>latest/<job>-<branch>.txt; null when absent or unreadable (a fault is warned about). */
  getLatestHash(job: string, branch: string): Promise<string | null>;
  setLatestHash(job: string, branch: string, hash: string): Promise<void>;
  /**
   * Key <TASKRUNNER_LOGS_PREFIX><buildId>/<job>.log.txt; url = <TASKRUNNER_LOGS_VIEW_URL><buildId>/<job>.log.txt.
   * An aborted signal stops the upload: the answer is then { interrupted }.
   */
  uploadLog(
    buildId: string,
    job: string,
    logPath: string,
    opts?: { signal?: AbortSignal },
  ): Promise<{ url: string } | { failed: string } | { interrupted: true }>;
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
export function openRemoteCache(
  config: Config,
  log: Log,
  buildDir: string,
  limits: Partial<Limits> = {},
): RemoteCache | null {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const { bucket } = config.s3;
  let store: ObjectStore;
  if (config.remoteCacheDir) {
    store = new FsStore(config.remoteCacheDir, (m) => log.debug(m));
    if (bucket)
      log.debug(
        "TASKRUNNER_REMOTE_CACHE_DIR and TASKRUNNER_REMOTE_CACHE_BUCKET are both set; " +
          `using the directory ${config.remoteCacheDir}`,
      );
  } else if (bucket) {
    store = new S3Store({ ...config.s3, bucket }, lim, (m) => log.debug(m));
  } else {
    return null;
  }
  const trust = new Trust(config);
  for (const problem of trust.keys.problems) log.warn(problem);
  const gate = new FailureGate(buildDir, "remote-cache", store.description, log);
  return new StoreCache(store, config, log, gate, lim, trust);
}

/** A restore from one prefix: a refusal (a signature that does not hold) lets the next prefix be tried. */
type FromPrefix = RestoreOutcome | { kind: "refused"; message: string };

class StoreCache implements RemoteCache {
  readonly description: string;
  /** Archives refused in this task already: the fuzzy cache naming one again is a plain miss, not a second warning. */
  private readonly refused = new Set<string>();
  /**
   * A task says one warn line about cache objects it refused (the first, with
   * its reason); a poisoner who planted an archive and a pointer gets the rest
   * in the debug log.
   */
  private refusalSaid = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly config: Config,
    private readonly log: Log,
    private readonly gate: FailureGate,
    private readonly limits: Limits,
    private readonly trust: Trust,
  ) {
    this.description = store.where(config.remoteCachePrefix);
  }

  async restoreArchive(name: string, root: string, opts: RestoreOptions = {}): Promise<RestoreOutcome> {
    let refused: string | null = null;
    for (const prefix of this.trust.readPrefixes) {
      const outcome = await this.restoreFrom(prefix, name, root, opts);
      if (outcome.kind !== "refused") {
        if (outcome.kind !== "miss") return outcome;
        continue;
      }
      // The first refusal is the one said; a later prefix may still hold a good copy.
      if (refused === null) refused = outcome.message;
      else this.log.debug(`Also refused: ${outcome.message}`);
    }
    return refused === null ? { kind: "miss" } : (this.refusal(refused) ?? { kind: "miss" });
  }

  /** The refusal as a failed outcome to warn about, or null (said at debug) when one was already said. */
  private refusal(message: string): { kind: "failed"; message: string } | null {
    if (!this.refusalSaid) {
      this.refusalSaid = true;
      return { kind: "failed", message };
    }
    this.log.debug(`Not used: ${message}`);
    return null;
  }

  private async restoreFrom(prefix: string, name: string, root: string, opts: RestoreOptions): Promise<FromPrefix> {
    const { signal } = opts;
    const rel = `bundles/${name}`;
    const key = `${prefix}${rel}`;
    const where = this.store.where(key);
    if (this.switchedOff(`restore of ${where}`)) return { kind: "miss" };
    if (signal?.aborted) return { kind: "interrupted" };
    const started = performance.now();
    const verifies = this.trust.verifies(prefix);
    if (verifies && this.refused.has(key)) {
      this.log.debug(`Not restoring ${where}: refused already in this task`);
      return { kind: "miss" };
    }
    if (verifies && this.trust.cannotVerify) {
      this.log.debug(`Not restoring ${where}: TASKRUNNER_CACHE_TRUSTED_KEYS cannot be used`);
      return { kind: "miss" };
    }
    // Asked for beside the archive, not after it: one round trip for both.
    const sidecar = verifies ? settle(this.store.getText(sidecarKey(key))) : null;
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
    let digest: Digest | null = null;
    let beforeMoves: (() => void) | undefined;
    let extracted = false;
    let signer: string | null = null;
    if (sidecar) {
      const text = await sidecar;
      if (text instanceof Error) {
        body.destroy();
        return this.fault(`could not download ${this.store.where(sidecarKey(key))}: ${describeError(text)}`);
      }
      const checked = this.trust.checkArchive(text, rel, opts.identity ?? null);
      if (!checked.ok) {
        body.destroy();
        this.refused.add(key);
        return { kind: "refused", message: `${where} ${checked.refusal.text}` };
      }
      digest = new Digest();
      const check = bytesCheck(checked, digest);
      beforeMoves = () => {
        check();
        extracted = true;
      };
      signer = checked.signer;
      const checks = `its bytes are checked before anything is moved into ${root}`;
      this.log.debug(`${where} is signed by trusted key ${checked.signer}; ${checks}`);
    }
    opts.onFound?.();
    try {
      const { restoreInto } = await import("./restore");
      const received = { bytes: 0 };
      let runMs: number | null = null;
      const notes = await restoreInto(watchStall(body, this.limits.stallMs, received, digest?.update), root, {
        stagingParents: await opts.stagingParents?.(),
        outputs: opts.outputs,
        signal,
        parallelFrom: this.limits.parallelFrom,
        beforeMoves,
        onMeta: (meta) => (runMs = meta.runMs),
        mtime: opts.stampRestoreTime ? new Date() : undefined,
      });
      for (const note of notes) this.log.debug(note);
      this.log.debug(`Restored ${where} into ${root} in ${elapsed(started)}`);
      return { kind: "restored", bytes: received.bytes, runMs };
    } catch (e) {
      body.destroy();
      if (signal?.aborted) return this.interrupted(`restore of ${where}`);
      if (e instanceof SignatureRefused) {
        this.refused.add(key);
        return { kind: "refused", message: `${where} ${e.message}` };
      }
      // Our archives extract when they are signed: a signed one that does not was changed since.
      if (e instanceof ArchiveError && signer && !extracted) {
        this.refused.add(key);
        const changed = "its bytes were most likely changed since it was signed";
        const message = `${where} is signed by key ${signer} but does not extract (${e.message}): ${changed}`;
        return { kind: "refused", message };
      }
      if (e instanceof StoreError) return this.fault(`download of ${where} failed: ${e.message}`);
      return { kind: "failed", message: `could not restore ${where} into ${root}: ${describeError(e)}` };
    }
  }

  async saveArchive(name: string, root: string, outputs: string[], opts: SaveOptions = {}): Promise<SaveOutcome> {
    const prepared = await this.prepareSave(name, root, outputs);
    return prepared.kind === "ready" ? prepared.upload(opts) : prepared;
  }

  async prepareSave(name: string, root: string, outputs: string[], opts: PrepareOptions = {}): Promise<PreparedSave> {
    const key = `${this.config.remoteCachePrefix}bundles/${name}`;
    const where = this.store.where(key);
    if (this.switchedOff(`upload of ${where}`))
      return { kind: "skipped", reason: `the remote cache ${this.store.description} is off for this build` };
    if (this.trust.cannotSign) return { kind: "skipped", reason: "TASKRUNNER_CACHE_SIGNING_KEY cannot be used" };
    const started = performance.now();
    const [{ checkOutputs, snapshotOutputs }, { packArchive }] = await Promise.all([
      import("./archive"),
      import("./tar-writer"),
    ]);
    const cannotArchive = (e: unknown) => ({
      kind: "failed" as const,
      message: `could not archive the outputs in ${root}: ${describeError(e)}; nothing uploaded to ${where}`,
    });
    let entries: ReturnType<typeof snapshotOutputs>;
    try {
      const checked = await checkOutputs(root, outputs);
      if (!checked.ok) return { kind: "failed", message: `${checked.message}; nothing uploaded to ${where}` };
      for (const note of checked.notes) this.log.debug(note);
      entries = snapshotOutputs(root, checked.members);
    } catch (e) {
      return cannotArchive(e);
    }
    const upload = async ({ signal, runMs }: SaveOptions = {}): Promise<SaveOutcome> => {
      if (this.switchedOff(`upload of ${where}`))
        return { kind: "skipped", reason: `the remote cache ${this.store.description} is off for this build` };
      try {
        signal?.throwIfAborted();
        const ifAbsent = await this.beforeUpload(key, name, opts);
        if (ifAbsent === "keep") return { kind: "saved", bytes: 0 };
        const { signer } = this.trust;
        const digest = signer ? new Digest() : null;
        const sent = { bytes: 0 };
        const trailer = runMs === undefined ? undefined : metaFrame({ runMs: Math.round(runMs) });
        const body = packArchive(root, entries, { trailer, sent });
        // Both stores give up cleanly on the signal: no temporary file, no multipart upload left.
        await this.store.put(key, digest ? digesting(body, digest) : body, { signal, ifAbsent });
        if (signer && digest) {
          const identity = opts.identity ?? null;
          const statement = { key: `bundles/${name}`, identity, size: digest.size, sha256: digest.hex() };
          await this.store.putText(sidecarKey(key), signStatement(signer, statement));
        }
        const signed = signer ? `, signed by key ${signer.id}` : "";
        const what = `${outputs.join(" ")} (${entries.length} members)`;
        this.log.debug(`Saved ${what} from ${root} to ${where}${signed} in ${elapsed(started)}`);
        return { kind: "saved", bytes: sent.bytes };
      } catch (e) {
        if (signal?.aborted) return this.interrupted(`upload to ${where}`);
        if (e instanceof ObjectExists) {
          this.log.debug(`Not uploading ${where}: another build stored it meanwhile, and it is kept`);
          return { kind: "saved", bytes: 0 };
        }
        if (e instanceof StoreError) return this.fault(`upload to ${where} failed: ${e.message}`);
        return cannotArchive(e);
      }
    };
    return { kind: "ready", upload };
  }

  /**
   * Whether and how the upload of key goes ahead: "keep" (it holds an archive
   * that verifies: the transfer is saved), true (nothing there: store only if
   * that is still so), false (write over it). Only with signatures in play;
   * the old tool always writes over.
   */
  private async beforeUpload(key: string, name: string, opts: PrepareOptions): Promise<"keep" | boolean> {
    if (!this.trust.guardsUploads) return false;
    const where = this.store.where(key);
    if (opts.force) {
      this.log.debug(`Writing ${where} whatever it holds (-f)`);
      return false;
    }
    const identity = opts.identity ?? null;
    const debug = (m: string) => this.log.debug(m);
    const rel = `bundles/${name}`;
    const unknown = { kind: "unknown" as const };
    const existing = identity ? await this.trust.existing(this.store, key, rel, identity, debug) : unknown;
    switch (existing.kind) {
      case "valid": {
        const holds = `it already holds an archive signed by key ${existing.signer} for this key`;
        this.log.debug(`Not uploading ${where}: ${holds}`);
        return "keep";
      }
      case "signing": {
        const age = seconds(Math.max(0, Math.round(existing.age)));
        const why = `it was written ${age} ago and is not signed yet (another build may be signing it); kept`;
        this.log.debug(`Not uploading ${where}: ${why}`);
        return "keep";
      }
      case "invalid":
        this.log.debug(`Replacing ${where}: it ${existing.why}`);
        return false;
      case "absent":
        return true;
      case "unknown":
        return false;
    }
  }

  async getLatestHash(job: string, branch: string): Promise<string | null> {
    for (const prefix of this.trust.readPrefixes) {
      const found = await this.latestIn(prefix, job, branch);
      if (found !== null) return found;
    }
    return null;
  }

  private async latestIn(prefix: string, job: string, branch: string): Promise<string | null> {
    const rel = this.latestRel(job, branch);
    const where = this.store.where(prefix + rel);
    if (this.switchedOff(`read of ${where}`)) return null;
    const verifies = this.trust.verifies(prefix);
    if (verifies && this.trust.cannotVerify) {
      this.log.debug(`Not reading ${where}: TASKRUNNER_CACHE_TRUSTED_KEYS cannot be used`);
      return null;
    }
    try {
      const [text, sidecar] = await Promise.all([
        this.store.getText(prefix + rel),
        verifies ? this.store.getText(sidecarKey(prefix + rel)) : null,
      ]);
      const hash = text?.trim() || null;
      this.log.debug(hash ? `Latest hash at ${where}: ${hash}` : `No latest hash at ${where}`);
      if (hash === null || !verifies) return hash;
      const checked = this.trust.checkPointer(sidecar, rel, job, branch, text!);
      if (checked.ok) return hash;
      const refused = this.refusal(`${where} ${checked.text}`);
      if (refused) this.log.warn(`Fuzzy cache from branch ${branch} not used: ${refused.message}`);
      return null;
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
      const { signer } = this.trust;
      if (signer) {
        const identity = { kind: "pointer", job, branch, hash } as const;
        const key = this.latestRel(job, branch);
        const statement = { key, identity, size: Buffer.byteLength(hash), sha256: sha256(hash) };
        await this.store.putText(sidecarKey(this.latestKey(job, branch)), signStatement(signer, statement));
      }
      this.log.debug(`Latest hash ${hash} written to ${where}${signer ? `, signed by key ${signer.id}` : ""}`);
    } catch (e) {
      this.log.warn(this.fault(`could not write ${where}: ${describeError(e)}`).message);
    }
  }

  async uploadLog(
    buildId: string,
    job: string,
    logPath: string,
    { signal }: { signal?: AbortSignal } = {},
  ): Promise<{ url: string } | { failed: string } | { interrupted: true }> {
    const suffix = `${buildId}/${job}.log.txt`;
    const key = `${this.config.logsPrefix}${suffix}`;
    const where = this.store.where(key);
    if (this.gate.closed)
      return { failed: `the remote cache ${this.store.description} is off for this build; log not sent to ${where}` };
    let size: number;
    try {
      size = (await stat(logPath)).size;
    } catch {
      return { failed: `log file ${logPath} does not exist` };
    }
    try {
      await this.store.put(key, createReadStream(logPath), { contentType: "text/plain; charset=utf-8", signal, size });
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
    return this.config.remoteCachePrefix + this.latestRel(job, branch);
  }

  private latestRel(job: string, branch: string): string {
    return `latest/${job}-${branch}.txt`;
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
      message +=
        `; that is ${FAILURE_LIMIT} remote cache failures in this build, ` +
        `so ${this.store.description} is not used for the rest of it`;
    }
    return { kind: "failed", message };
  }
}

/** The promise's value, or its error as a value (it may never be awaited: the archive may be missing). */
function settle<T>(p: Promise<T>): Promise<T | Error> {
  return p.catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
}

function elapsed(started: number): string {
  return seconds(Math.round(performance.now() - started));
}
