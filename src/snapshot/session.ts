// `snapshot`, one request per task: the decision (decision.ts) and what
// follows from it — the reply to the task, the fuzzy cache before a run, the
// commit status — then, once the task has finished, what is saved: post-unpack
// commands, the upload, the hash (docs/contract.md §7).
import { loadRemote } from "../load-remote";
import type { TaskContext } from "../task/context";
import type { Decision } from "../output/events";
import { parseSnapshotArgs, hasInputs, hashedRawInputs, usesRemoteCache, type SnapshotArgs } from "./args";
import { writeHashFile, type HashInfo } from "../state/hash-file";
import { Reply } from "../controller/protocol";
import { runPostUnpack } from "./post-unpack";
import { pathExists, realPath } from "../sys/libc";
import { cacheRootOf, physicalPath, placeOutputs, type PlacedOutput } from "./output-paths";
import { resolvePath } from "../sys/paths";
import { Reporting } from "./reporting";
import { changedPaths, movedInputs } from "./rerun-reasons";
import { cacheFacts, decide } from "./decision";
import { describeError } from "../sys/errors";
import { WaitedTooLong } from "../task/background-uploads";
import { noteOf } from "../output/render";
import type { HashResult } from "../hash";

// Loaded on first use: a nested task answered by the toplevel's hashing service never needs it.
const git = () => import("../hash");

/** The commit status a decision posts with --commit-status: its state and description. */
function statusOf(d: Decision): { state: "pending" | "success"; description: string | null } | null {
  switch (d.kind) {
    case "run":
      return { state: "pending", description: d.hashed ? null : "not cached" };
    case "skip":
      return { state: "success", description: d.because === "unchanged" ? "local cache hit" : null };
    case "restore":
      return { state: "success", description: "cache hit" };
    default:
      return null;
  }
}

/**
 * One per task; the runner calls it in the task's states (src/outcome.ts), and each step checks
 * it is called in its own: beforeStart (starting), handle (running), afterTask (saving), saveHash
 * (recording), report (reporting).
 */
export class SnapshotSession {
  private args: SnapshotArgs | null = null;
  /** The declared outputs, placed (snapshot/output-paths.ts), or where they are when one is outside the cache root. */
  private placed: { ok: true; outputs: PlacedOutput[] } | { ok: false; error: string; paths: string[] } = {
    ok: true,
    outputs: [],
  };
  /** Set when a successful end of this task should save a new hash. */
  private hashToSave: HashInfo | null = null;
  /** Set by afterTask once everything but saving the hash is done. */
  private hashReady: HashInfo | null = null;
  /** A fuzzy restore changed inputs before the run: it does not run from what it hashed, so nothing is saved. */
  private fuzzyChangedInputs = false;
  /** Where restores stage (stagingParents), found once. */
  private staging: Promise<string[]> | null = null;
  readonly reporting: Reporting;

  constructor(private readonly ctx: TaskContext) {
    this.reporting = new Reporting(ctx);
  }

  /** The task's outputs came without running it: skipped, or restored from the exact archive. */
  private get skipped(): boolean {
    return this.ctx.life.satisfied === "skipped" || this.restored;
  }

  private get restored(): boolean {
    return this.ctx.life.satisfied === "restored-exact";
  }

  async beforeStart(): Promise<void> {
    this.ctx.life.expect("starting");
    await this.reporting.beforeStart();
  }

  /**
   * Answers one `snapshot` request with shell code for the task to eval.
   * shellPwd: the calling shell's $PWD, which our `snapshot` function sends just before.
   */
  async handle(words: string[], shellPwd: string | null): Promise<string> {
    this.ctx.life.expect("running");
    const { ctx } = this;
    const decision = await this.decideRequest(words, shellPwd);
    ctx.out.say({ kind: "decided", decision });
    if (decision.kind === "fault" || decision.kind === "interrupted") return Reply.fail;
    const hashed = decision.kind === "skip" && decision.because === "unchanged" ? null : decision.hashed;
    if (hashed) {
      ctx.life.explain(hashed.reasons);
      this.hashToSave = hashed.current;
    }
    if (decision.kind === "skip") ctx.life.satisfiedBy("skipped");
    if (decision.kind === "restore") ctx.life.satisfiedBy("restored-exact");
    if (decision.kind === "run" && decision.hashed && decision.fuzzy) {
      const { saved, current } = decision.hashed;
      await ctx.record.phase("restore", () => this.restoreFuzzy(saved, current));
      // Cut short by a signal: the runner says so; the task is stopped, not run.
      if (ctx.interruption.by) return Reply.fail;
    }
    const status = statusOf(decision);
    if (this.args?.commitStatus && status) await this.reporting.status(status.state, status.description);
    return decision.kind === "run" ? Reply.run : Reply.skip;
  }

  private async decideRequest(words: string[], shellPwd: string | null): Promise<Decision> {
    if (this.args !== null)
      return {
        kind: "fault",
        message: "snapshot: called more than once in this task; call it once, with all inputs and outputs",
      };
    const parsed = parseSnapshotArgs(words);
    if (!parsed.ok) return { kind: "fault", message: `snapshot: ${parsed.error}` };
    const args = (this.args = parsed.args);
    this.warnIfMovedAway(args, shellPwd);
    if (args.longRunning) this.ctx.out.longRunning();
    const cacheRoot = this.cacheRoot(args);
    if (hasInputs(args)) {
      // An output outside the cache root cannot be archived: said when the cache is saved (as the
      // old tool found it, when it saved), never a reason to fail a task that would succeed.
      const placed = placeOutputs(this.ctx.cwd, cacheRoot, args.outputs);
      this.placed = placed.ok
        ? placed
        : { ok: false, error: placed.error, paths: args.outputs.map((o) => resolvePath(this.ctx.cwd, o)) };
    }
    try {
      return await decide(this.ctx, {
        args,
        cacheRoot,
        missingOutputs: () => this.missingOutputs().map((o) => o.declared),
        members: () => this.members(),
        hash: () => this.hash(args),
        remoteCache: () => this.reporting.remoteCache(),
        stagingParents: () => this.stagingParents(),
      });
    } catch (e) {
      return { kind: "fault", message: `snapshot command failed: ${describeError(e)}` };
    }
  }

  /**
   * Relative paths are taken from the directory the task started in, as the
   * old tool took them (its runner's cwd), whatever a `cd` in the script did:
   * said once when the calling shell is elsewhere and a relative path is given.
   */
  private warnIfMovedAway(args: SnapshotArgs, pwd: string | null): void {
    const { cwd } = this.ctx;
    if (pwd === null || pwd === cwd || realPath(pwd) === cwd) return;
    const relative = [...args.fileInputs, ...args.outputs, ...(args.cacheRoot === null ? [] : [args.cacheRoot])].some(
      (p) => !p.startsWith("/"),
    );
    if (relative) this.ctx.out.say({ kind: "cd-ignored", startDir: cwd, shellDir: pwd });
  }

  /** The absolute path of the i-th declared output. */
  private outputPath(i: number): string {
    return this.placed.ok ? this.placed.outputs[i].path : this.placed.paths[i];
  }

  private cacheRoot(args: SnapshotArgs): string {
    return cacheRootOf(this.ctx.cwd, args.cacheRoot, this.ctx.config.rootDirectory);
  }

  /**
   * Where a restore may stage an archive: places no input hash ever sees — the
   * repository's git directory, then the state directory (cache/restore.ts takes the
   * first on the cache root's file system).
   */
  private stagingParents(): Promise<string[]> {
    this.staging ??= (async () => {
      const gitDir = await (await git()).absoluteGitDir(this.ctx.cwd, this.ctx.env);
      return [...(gitDir ? [gitDir] : []), this.ctx.paths.stateDir];
    })();
    return this.staging;
  }

  /** Through the toplevel's warm hashing service when there is one (see toplevel/hash-service.ts). */
  private async hash(args: SnapshotArgs): Promise<HashResult> {
    const { ctx } = this;
    const raw = hashedRawInputs(args, ctx.command);
    const service = ctx.internal.hashService;
    if (service && !ctx.inToplevelProcess && args.fileInputs.length > 0) {
      const { hashViaService } = await import("../toplevel/hash-service");
      const viaService = await hashViaService(service, ctx.env, ctx.cwd, args.fileInputs, raw);
      if (!("declined" in viaService)) {
        const { fallback, ...hashed } = viaService;
        if (fallback !== undefined) ctx.out.say({ kind: "reference-hashing", reason: fallback });
        ctx.out.say({ kind: "hashed-by-service" });
        return hashed;
      }
      ctx.out.say({ kind: "hash-service-declined", reason: viaService.declined });
    }
    const { hashInputs } = await git();
    const onFallback = (reason: string) => ctx.out.say({ kind: "reference-hashing", reason });
    return hashInputs(ctx.cwd, args.fileInputs, raw, { env: ctx.env, umask: ctx.umask, onFallback });
  }

  /**
   * Step 7: the latest cache of this job from the current branch, then the
   * fallback branches, restored before the task runs. On success the new
   * main-branch commit is saved at once: a failing task must not fetch the
   * same fuzzy cache again.
   */
  private async restoreFuzzy(saved: HashInfo, current: HashInfo): Promise<void> {
    const { ctx } = this;
    const cache = await this.reporting.remoteCache();
    const args = this.args;
    if (!cache || !args) return;
    const { archiveName } = await loadRemote();
    const branch = await (await git()).currentBranch(ctx.cwd, ctx.env);
    const branches = [...(branch ? [branch] : []), ...ctx.config.fallbackBranches];
    for (const b of branches) {
      const hash = await cache.getLatestHash(ctx.job, b);
      if (!hash) continue;
      const restored = await cache.restoreArchive(archiveName(ctx.job, args.cacheVersion, hash), this.cacheRoot(args), {
        identity: { kind: "archive", job: ctx.job, version: args.cacheVersion, hash },
        stagingParents: () => this.stagingParents(),
        outputs: this.members(),
        signal: ctx.interruption.signal,
        // No stampRestoreTime: these outputs are of other inputs, and their archived times (older than the
        // checkout) are what make an incremental build redo the work the changed inputs need.
      });
      if (restored.kind === "restored") {
        ctx.out.say({ kind: "fuzzy-restored", branch: b, hash });
        ctx.life.satisfiedBy("restored-fuzzy");
        ctx.record.cache = cacheFacts(restored, "fuzzy", `from branch ${b}`);
        await this.checkInputsAfterFuzzy(args, current);
        const hashFile = ctx.paths.hashFile(ctx.job);
        const failed = writeHashFile(hashFile, { ...saved, mainBranchCommit: current.mainBranchCommit });
        if (failed) ctx.out.stateWriteFailed(hashFile, failed, "the fuzzy cache may be fetched again next time");
        return;
      }
      if (restored.kind === "failed") ctx.out.say({ kind: "fuzzy-not-used", branch: b, message: restored.message });
      if (restored.kind === "interrupted") return;
    }
  }

  /** After the task exited with code: messages, post-unpack commands, hash, upload. Returns the final exit code. */
  async afterTask(exitCode: number): Promise<number> {
    this.ctx.life.expect("saving");
    const { ctx, args } = this;
    const { out, config } = ctx;
    let code = exitCode;
    const toSave = this.hashToSave;
    const ran = !this.skipped && toSave !== null;
    if (this.skipped && !toSave && ctx.isToplevel) out.say({ kind: "skipped" });
    // The old tool's order: the task's own result as soon as its body ends, then the post-unpack output.
    if (ran) out.say({ kind: "ended", code });
    if (code === 0 && toSave && args && args.postUnpackCommands.length > 0) {
      const failed = await ctx.record.phase("post-unpack", async () => {
        for (const cmd of args.postUnpackCommands) {
          if (ctx.interruption.by) break;
          const failure = await runPostUnpack(ctx, cmd);
          if (failure !== null) return failure;
        }
        return null;
      });
      // A command stopped by a signal did not fail: the task was interrupted, and the runner says so.
      if (ctx.interruption.by) return code;
      if (failed !== null) {
        // Our rule, not the old tool's: no hash is saved, so the next run tries again.
        code = 1;
        out.say({ kind: "post-unpack-failed", message: failed, ran });
      }
    }
    if (code !== 0 || !toSave || !args) return code;
    // A hash saved without the outputs would skip the task next time and leave the build without them.
    const missing = this.missingOutputs();
    if (missing.length > 0) {
      out.say({
        kind: "outputs-not-created",
        outputs: missing,
        uploading: usesRemoteCache(args) && config.saveRemoteCache,
      });
      return code;
    }
    const toKeep = await this.inputsAfter(toSave);
    if (toKeep === null) return code;

    // Under the hash before the run, which another machine computes before running.
    if (usesRemoteCache(args) && config.saveRemoteCache && (!this.skipped || config.primeCacheMode)) {
      const { uploads } = ctx;
      if (uploads) {
        // Served by the toplevel: the upload overlaps with what the caller does next. The hash
        // is saved at once — the outputs are here and good; only the shared copy is pending, and
        // an upload cut short leaves no archive, a plain miss elsewhere (task/background-uploads.ts).
        const upload = await ctx.record.phase("upload", () => this.prepareUpload(args, toSave.hash));
        if (upload) {
          uploads.add(
            ctx.job,
            async (signal) => {
              if ((await upload(signal)) !== "interrupted") return;
              out.say({
                kind: "upload-stopped",
                why: describeError(signal.reason),
                atBuildEnd: signal.reason instanceof WaitedTooLong,
              });
            },
            (m) => out.debug(m),
          );
        }
      } else {
        // Before the hash is saved: an upload cut short by a signal leaves no hash behind.
        await ctx.record.phase("upload", async () =>
          (await this.prepareUpload(args, toSave.hash))?.(ctx.interruption.signal),
        );
      }
    }
    this.hashReady = toKeep;
    return code;
  }

  /** The declared outputs' archive member names (none when one lies outside the cache root). */
  private members(): string[] {
    return this.placed.ok ? this.placed.outputs.map((o) => o.member) : [];
  }

  /** The declared outputs that are not there (a dangling symlink is not there either). */
  private missingOutputs(): { declared: string; path: string }[] {
    const declared = this.args?.outputs ?? [];
    return declared.map((d, i) => ({ declared: d, path: this.outputPath(i) })).filter((o) => !pathExists(o.path));
  }

  /** The last step of a task that succeeded and was not interrupted: the hash afterTask prepared. */
  saveHash(): void {
    this.ctx.life.expect("recording");
    const info = this.hashReady;
    if (!info) return;
    const path = this.ctx.paths.hashFile(this.ctx.job);
    this.ctx.out.debug(`Saving hash ${info.hash} to ${path}`);
    const failed = writeHashFile(path, info);
    if (failed) this.ctx.out.stateWriteFailed(path, failed, "its hash is not saved, so the next run runs it again");
  }

  /**
   * Takes the outputs' metadata now (the archive is written from it, and a file
   * changed since fails it) and returns the upload, to run now or in the
   * background: it writes the archive, sends it and then moves the fuzzy-cache
   * pointer. Null when there is nothing to upload (said already).
   */
  private async prepareUpload(
    args: SnapshotArgs,
    hash: string,
  ): Promise<((signal: AbortSignal) => Promise<"done" | "interrupted">) | null> {
    const { ctx } = this;
    const cache = await this.reporting.remoteCache();
    if (!cache) return null;
    const { archiveName } = await loadRemote();
    ctx.out.debug("Saving remote cache");
    if (!this.placed.ok) {
      ctx.out.say({ kind: "outputs-outside-root", message: this.placed.error, startDir: ctx.cwd });
      return null;
    }
    const name = archiveName(ctx.job, args.cacheVersion, hash);
    const prepared = await cache.prepareSave(name, this.cacheRoot(args), this.members(), {
      identity: { kind: "archive", job: ctx.job, version: args.cacheVersion, hash },
      force: ctx.force,
    });
    if (prepared.kind !== "ready") {
      if (prepared.kind === "failed") ctx.out.say({ kind: "cache-not-saved", message: prepared.message });
      return null;
    }
    // Asked now: the branch is the one the task ran on.
    const branch = args.fuzzyCache ? await (await git()).currentBranch(ctx.cwd, ctx.env) : null;
    // Stored with the archive: a restore elsewhere says how much time it saved (cache/archive-meta.ts).
    const run = this.skipped ? undefined : ctx.record.phases.find((p) => p.name === "run");
    const runMs = run ? run.end - run.start : undefined;
    return async (signal) => {
      const saved = await prepared.upload({ signal, runMs });
      if (saved.kind === "interrupted") return "interrupted";
      if (saved.kind === "failed") ctx.out.say({ kind: "cache-not-saved", message: saved.message });
      if (saved.kind === "saved") ctx.record.uploaded(saved.bytes);
      // The pointer only once its archive is complete.
      if (saved.kind === "saved" && branch) await cache.setLatestHash(ctx.job, branch, hash);
      return "done";
    };
  }

  /**
   * The hash to save for the local skip once the task ran or was restored
   * (before: its inputs' hash before), or null to save nothing. Hashed again:
   * a task that changed its own inputs while it ran would be skipped next
   * time with outputs made from other inputs, so nothing is saved — unless
   * every path that changed is a declared output too (a lockfile `npm install`
   * rewrites): then the task is stable, and the hash after the run is the one
   * its next run computes. A restore can rewrite such outputs in the same way.
   */
  private async inputsAfter(before: HashInfo): Promise<HashInfo | null> {
    const { ctx, args } = this;
    const ran = !this.skipped;
    if (!args || args.fileInputs.length === 0 || !(ran || this.restored)) return before;
    // Said when the fuzzy cache was restored.
    if (this.fuzzyChangedInputs) return null;
    const now = await this.hashAgain(args, before);
    if (now?.hash === before.hash) return before;
    const moved = now
      ? movedInputs(before, now, await (await git()).workTreeTop(ctx.cwd, ctx.env), this.outputPaths())
      : { paths: [], allOutputs: false };
    if (now && moved.allOutputs) {
      const rewrote = {
        kind: "outputs-rewrote-inputs",
        by: ran ? "run" : "restore",
        paths: moved.paths,
        before: before.hash,
        after: now.hash,
      } as const;
      ctx.out.say(rewrote);
      ctx.life.note(noteOf(rewrote));
      return now;
    }
    // A restore that changed other inputs (an archive holding more than the declared outputs):
    // what it restored is what the inputs hashed before it make, and the next run sees the change.
    if (!ran) return before;
    ctx.out.say({ kind: "inputs-moved", paths: moved.paths });
    return null;
  }

  /**
   * A fuzzy restore puts another build's outputs in place; when one of them is
   * an input too (a lockfile), the run no longer starts from the inputs it was
   * hashed with, and its result must not be saved under that hash.
   */
  private async checkInputsAfterFuzzy(args: SnapshotArgs, before: HashInfo): Promise<void> {
    if (args.fileInputs.length === 0) return;
    const now = await this.hashAgain(args, before);
    if (now?.hash === before.hash) return;
    this.fuzzyChangedInputs = true;
    this.ctx.out.say({ kind: "fuzzy-changed-inputs", paths: now ? changedPaths(before, now) : [] });
  }

  /** The inputs as they hash now (before's other facts kept), or null when they cannot be hashed any more. */
  private async hashAgain(args: SnapshotArgs, before: HashInfo): Promise<HashInfo | null> {
    const after = await this.hash(args);
    return after.ok ? { ...before, hash: after.hash, hashInput: after.hashInput } : null;
  }

  /**
   * Every declared output's absolute path, and its physical one where a symlink makes it differ (git names files
   * physically).
   */
  private outputPaths(): string[] {
    const paths = (this.args?.outputs ?? []).map((_, i) => this.outputPath(i));
    return [...paths, ...paths.map(physicalPath).filter((p): p is string => p !== null && !paths.includes(p))];
  }

  /** Log upload and commit status, after the result is recorded. */
  async report(code: number): Promise<void> {
    this.ctx.life.expect("reporting");
    await this.reporting.afterTask(code, {
      commitStatus: this.args?.commitStatus ?? false,
      skipped: this.skipped,
    });
  }
}
