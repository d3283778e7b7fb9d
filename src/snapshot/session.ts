// `snapshot`: decides whether a task runs, is skipped, or is restored from the
// cache (SPEC §7), and what is saved once it has finished.
import { loadRemote } from "../load-remote";
import type { TaskContext } from "../task/context";
import { parseSnapshotArgs, hasInputs, usesRemoteCache, type SnapshotArgs } from "./args";
import { readHashFile, writeHashFile, type HashInfo } from "../state/hash-file";
// Loaded on first use: a nested task answered by the toplevel's hashing service never needs it.
const git = () => import("../hash");
import { Reply } from "../controller/protocol";
import { runPostUnpack } from "./post-unpack";
import { pathExists, realPath } from "../sys/libc";
import { cacheRootOf, placeOutputs, type PlacedOutput } from "./output-paths";
import { resolvePath } from "../sys/paths";
import { Reporting } from "./reporting";
import { explainChange } from "./rerun-reasons";

type Decision = { run: boolean; statusDescription: string | null } | "interrupted";
const EMPTY_HASH: HashInfo = { hash: "", hashInput: "", mainBranchCommit: null };

export class SnapshotSession {
  private args: SnapshotArgs | null = null;
  /** The declared outputs, placed (snapshot/output-paths.ts), or where they are when one is outside the cache root; set once the task has inputs. */
  private outputs: { ok: true; outputs: PlacedOutput[] } | { ok: false; error: string; paths: string[] } = { ok: true, outputs: [] };
  /** Set when a successful end of this task should save a new hash. */
  private hashToSave: HashInfo | null = null;
  /** Set by afterTask once everything but saving the hash is done. */
  private hashReady: HashInfo | null = null;
  private skipped = false;
  /** Where restores stage (stagingParents), found once. */
  private staging: Promise<string[]> | null = null;
  readonly reporting: Reporting;

  constructor(private readonly ctx: TaskContext) {
    this.reporting = new Reporting(ctx);
  }

  async beforeStart(): Promise<void> {
    await this.reporting.beforeStart();
  }

  /**
   * Answers one `snapshot` request with shell code for the task to eval.
   * shellPwd: the calling shell's $PWD, which our `snapshot` function sends just before.
   */
  async handle(words: string[], shellPwd: string | null): Promise<string> {
    const { out } = this.ctx;
    if (this.args !== null) {
      out.error("snapshot: called more than once in this task; call it once, with all inputs and outputs");
      return Reply.fail;
    }
    const parsed = parseSnapshotArgs(words);
    if (!parsed.ok) {
      out.error(`snapshot: ${parsed.error}`);
      return Reply.fail;
    }
    this.args = parsed.args;
    const moved = this.movedAway(parsed.args, shellPwd);
    if (moved) out.warn(moved);
    let decision: Decision | { error: string };
    try {
      decision = await this.decide(parsed.args);
    } catch (e) {
      decision = { error: `snapshot command failed: ${(e as Error).message}` };
    }
    // Cut short by a signal: the runner says so; the task is stopped, not run.
    if (decision === "interrupted") return Reply.fail;
    if ("error" in decision) {
      out.error(decision.error);
      return Reply.fail;
    }
    this.skipped = !decision.run;
    if (parsed.args.commitStatus) {
      await this.reporting.status(decision.run ? "pending" : "success", decision.statusDescription);
    }
    return decision.run ? Reply.run : Reply.skip;
  }

  /**
   * Relative paths are taken from the directory the task started in, as the
   * old tool took them (its runner's cwd), whatever a `cd` in the script did:
   * said once when the calling shell is elsewhere and a relative path is given.
   */
  private movedAway(args: SnapshotArgs, pwd: string | null): string | null {
    const { cwd } = this.ctx;
    if (pwd === null || pwd === cwd || realPath(pwd) === cwd) return null;
    const relative = [...args.fileInputs, ...args.outputs, ...(args.cacheRoot === null ? [] : [args.cacheRoot])].some((p) => !p.startsWith("/"));
    if (!relative) return null;
    return `snapshot: relative paths are taken from the directory the task started in, ${cwd}, not from the shell's current directory ${pwd} (a cd in the script does not move them)`;
  }

  /** The absolute path of the i-th declared output. */
  private outputPath(i: number): string {
    return this.outputs.ok ? this.outputs.outputs[i].path : this.outputs.paths[i];
  }

  private cacheRoot(args: SnapshotArgs): string {
    return cacheRootOf(this.ctx.cwd, args.cacheRoot, this.ctx.config.rootDirectory);
  }

  private async decide(args: SnapshotArgs): Promise<Decision | { error: string }> {
    const { ctx } = this;
    const { out, config } = ctx;
    if (!hasInputs(args)) return { run: true, statusDescription: "not cached" };
    // An output outside the cache root cannot be archived: said when the cache is saved (as the
    // old tool found it, when it saved), never a reason to fail a task that would succeed.
    const placed = placeOutputs(ctx.cwd, this.cacheRoot(args), args.outputs);
    this.outputs = placed.ok ? placed : { ok: false, error: placed.error, paths: args.outputs.map((o) => resolvePath(ctx.cwd, o)) };

    out.debug(`Files to hash: ${JSON.stringify(args.fileInputs)}`);
    out.debug(`Raw inputs: ${JSON.stringify(args.rawInputs)}`);
    const hashed = await ctx.record.phase("hash", () => this.hash(args));
    if (!hashed.ok) return { error: `snapshot: ${hashed.error}` };

    const hashFile = ctx.paths.hashFile(ctx.job);
    const savedFile = readHashFile(hashFile);
    if (savedFile.kind === "damaged") out.debug(`Invalid HashInfo in hash file ${hashFile}: ${savedFile.reason}`);
    const saved = savedFile.kind === "found" ? savedFile.info : EMPTY_HASH;
    const unchanged = hashed.hash === saved.hash && !ctx.force;
    const missing = unchanged ? this.missingOutputs().map((o) => o.declared) : [];
    if (unchanged && missing.length === 0) {
      out.debug(`Hash matches, hash=${saved.hash}, skipping`);
      ctx.record.shortcut = "skipped";
      return { run: false, statusDescription: "local cache hit" };
    }

    // Only now: a skipped task needs no `git merge-base` process.
    const current: HashInfo = {
      hash: hashed.hash,
      hashInput: hashed.hashInput,
      mainBranchCommit: config.mainBranch ? await (await git()).mainBranchCommit(ctx.cwd, config.mainBranch) : null,
      rawInputs: args.rawInputs,
    };
    if (unchanged) {
      // A warning, not info: the old tool skipped here and left the build without its outputs.
      out.warn(`Inputs unchanged but outputs missing (${missing.join(", ")}), not skipping`);
      this.explain([`outputs missing: ${missing.join(", ")}`]);
    } else if (current.hash === saved.hash) {
      this.explain(["forced with -f"]);
    } else {
      out.debug(`Hash mismatch, saved=${saved.hash}, current=${current.hash}`);
      this.explain(explainChange(saved, current));
    }
    this.hashToSave = current;

    if (config.primeCacheMode) {
      out.debug("Prime cache mode, assuming task is done and skipping");
      ctx.record.shortcut = "skipped";
      return { run: false, statusDescription: null };
    }

    const cache = usesRemoteCache(args) && !ctx.force ? await this.reporting.remoteCache() : null;
    if (cache && !(await (await git()).hasUncommittedChanges(ctx.cwd, args.fileInputs))) {
      const { archiveName } = await loadRemote();
      const name = archiveName(ctx.job, args.cacheVersion, current.hash);
      const stagingParents = await this.stagingParents();
      const restored = await ctx.record.phase("restore", () =>
        cache.restoreArchive(name, this.cacheRoot(args), {
          onFound: () => out.info(`Found remote cache ${name}, restoring`),
          stagingParents,
          outputs: this.members(),
          signal: ctx.interruption.signal,
        }),
      );
      if (restored.kind === "restored") {
        out.info("Restored from remote cache");
        ctx.record.shortcut = "restored-exact";
        return { run: false, statusDescription: "cache hit" };
      }
      if (restored.kind === "failed") out.warn(`Remote cache not used: ${restored.message}`);
      if (restored.kind === "interrupted") return "interrupted";
    }

    out.info("Inputs changed, running task");

    if (cache && args.fuzzyCache && (saved.mainBranchCommit === null || saved.mainBranchCommit !== current.mainBranchCommit)) {
      if (await ctx.record.phase("restore", () => this.restoreFuzzy(args))) {
        ctx.record.fuzzyRestored = true;
        // Saved now, not on success: a failing task must not fetch the same fuzzy cache again.
        const failed = writeHashFile(hashFile, { ...saved, mainBranchCommit: current.mainBranchCommit });
        if (failed) out.stateWriteFailed(hashFile, failed, "the fuzzy cache may be fetched again next time");
      }
      if (ctx.interruption.by) return "interrupted";
    }
    return { run: true, statusDescription: null };
  }

  /**
   * Where a restore may stage an archive: places no input hash ever sees — the
   * repository's git directory, then the state directory (restore.ts takes the
   * first on the cache root's file system).
   */
  private stagingParents(): Promise<string[]> {
    this.staging ??= (async () => {
      const gitDir = await (await git()).absoluteGitDir(this.ctx.cwd);
      return [...(gitDir ? [gitDir] : []), this.ctx.paths.stateDir];
    })();
    return this.staging;
  }

  /** Through the toplevel's warm hashing service when there is one (see toplevel/hash-service.ts). */
  private async hash(args: SnapshotArgs) {
    const { ctx } = this;
    const service = ctx.internal.hashService;
    if (service && !ctx.inToplevelProcess && args.fileInputs.length > 0) {
      const { hashViaService } = await import("../toplevel/hash-service");
      const viaService = await hashViaService(service, ctx.env, ctx.cwd, args.fileInputs, args.rawInputs);
      if (viaService) return viaService;
      ctx.out.debug("Hashing service unavailable; hashing here");
    }
    const { hashInputs } = await git();
    return hashInputs(ctx.cwd, args.fileInputs, args.rawInputs, { onFallback: (why) => ctx.out.debug(`Hashing the reference way: ${why}`) });
  }

  /** Why the task does not skip: in its log (debug) and its record, for --explain. */
  private explain(lines: string[]): void {
    for (const line of lines) this.ctx.out.debug(`Rerun because ${line}`);
    this.ctx.record.explain = lines;
  }

  private async restoreFuzzy(args: SnapshotArgs): Promise<boolean> {
    const { ctx } = this;
    const cache = await this.reporting.remoteCache();
    if (!cache) return false;
    const { archiveName } = await loadRemote();
    const branch = await (await git()).currentBranch(ctx.cwd);
    const branches = [...(branch ? [branch] : []), ...ctx.config.fallbackBranches];
    for (const b of branches) {
      const hash = await cache.getLatestHash(ctx.job, b);
      if (!hash) continue;
      const restored = await cache.restoreArchive(archiveName(ctx.job, args.cacheVersion, hash), this.cacheRoot(args), {
        stagingParents: await this.stagingParents(),
        outputs: this.members(),
        signal: ctx.interruption.signal,
      });
      if (restored.kind === "restored") {
        ctx.out.info(`Restored fuzzy cache from branch ${b}, hash=${hash}`);
        return true;
      }
      if (restored.kind === "failed") ctx.out.warn(`Fuzzy cache from branch ${b} not used: ${restored.message}`);
      if (restored.kind === "interrupted") return false;
    }
    return false;
  }

  /** After the task exited with code: messages, post-unpack commands, hash, upload. Returns the final exit code. */
  async afterTask(exitCode: number): Promise<number> {
    const { ctx, args } = this;
    const { out, config } = ctx;
    let code = exitCode;
    const toSave = this.hashToSave;
    const ran = !this.skipped && toSave !== null;
    if (this.skipped && !toSave && ctx.isToplevel) out.info("skipped, inputs unchanged");
    // The old tool's order: the task's own result as soon as its body ends, then the post-unpack output.
    if (ran) {
      if (code === 0) out.info("success");
      else out.error(`Failed, exit code: ${code}`);
    }
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
        out.error(failed);
        if (ran) out.error(`Failed, exit code: ${code}`);
      }
    }
    if (code !== 0 || !toSave || !args || !(await this.inputsStable(toSave))) return code;
    // A hash saved without the outputs would skip the task next time and leave the build without them.
    const missing = this.missingOutputs();
    if (missing.length > 0) {
      const which = missing.map((o) => (o.declared === o.path ? o.declared : `${o.declared} (looked for ${o.path})`)).join(", ");
      const uploading = usesRemoteCache(args) && config.saveRemoteCache;
      out.warn(`Declared output not created: ${which}; its hash is not saved${uploading ? " and nothing is uploaded" : ""}, so the next run runs it again`);
      return code;
    }

    // Uploaded before the hash is saved: an upload cut short by a signal leaves no hash behind.
    if (usesRemoteCache(args) && config.saveRemoteCache && (!this.skipped || config.primeCacheMode)) {
      await ctx.record.phase("upload", () => this.upload(args, toSave.hash));
    }
    this.hashReady = toSave;
    return code;
  }

  /** The declared outputs' archive member names (none when one lies outside the cache root). */
  private members(): string[] {
    return this.outputs.ok ? this.outputs.outputs.map((o) => o.member) : [];
  }

  /** The declared outputs that are not there (a dangling symlink is not there either). */
  private missingOutputs(): { declared: string; path: string }[] {
    const declared = this.args?.outputs ?? [];
    return declared.map((d, i) => ({ declared: d, path: this.outputPath(i) })).filter((o) => !pathExists(o.path));
  }

  /** The last step of a task that succeeded and was not interrupted: the hash afterTask prepared. */
  saveHash(): void {
    const info = this.hashReady;
    if (!info) return;
    const path = this.ctx.paths.hashFile(this.ctx.job);
    this.ctx.out.debug(`Saving hash ${info.hash} to ${path}`);
    const failed = writeHashFile(path, info);
    if (failed) this.ctx.out.stateWriteFailed(path, failed, "its hash is not saved, so the next run runs it again");
  }

  private async upload(args: SnapshotArgs, hash: string): Promise<void> {
    const { ctx } = this;
    const cache = await this.reporting.remoteCache();
    if (!cache) return;
    const { archiveName } = await loadRemote();
    ctx.out.debug("Saving remote cache");
    if (!this.outputs.ok) {
      ctx.out.warn(
        `Remote cache not saved: ${this.outputs.error}; outputs are taken from the directory the task started in ` +
          `(${ctx.cwd}) and must lie inside the cache root: pass --cache-root DIR or set TASKRUNNER_ROOT_DIRECTORY`,
      );
      return;
    }
    const saved = await cache.saveArchive(archiveName(ctx.job, args.cacheVersion, hash), this.cacheRoot(args), this.members(), {
      signal: ctx.interruption.signal,
    });
    if (saved.kind !== "saved") {
      if (saved.kind === "failed") ctx.out.warn(`Remote cache not saved: ${saved.message}`);
      return;
    }
    if (args.fuzzyCache) {
      const branch = await (await git()).currentBranch(ctx.cwd);
      if (branch) await cache.setLatestHash(ctx.job, branch, hash);
    }
  }

  /**
   * A task that changed its own inputs while it ran would be skipped next time
   * with outputs made from other inputs: hash again, and save nothing if the
   * inputs moved.
   */
  private async inputsStable(before: HashInfo): Promise<boolean> {
    if (this.skipped || !this.args || this.args.fileInputs.length === 0) return true;
    const after = await this.hash(this.args);
    if (after.ok && after.hash === before.hash) return true;
    const changed = after.ok ? changedPaths(before.hashInput, after.hashInput) : [];
    this.ctx.out.warn(
      `Inputs changed while the task ran${changed.length ? `: ${changed.join(", ")}` : ""}; not saving its hash or cache, so the next run runs it again`,
    );
    return false;
  }

  /** Log upload and commit status, after the result is recorded. */
  async report(code: number): Promise<void> {
    await this.reporting.afterTask(code, {
      commitStatus: this.args?.commitStatus ?? false,
      skipped: this.skipped,
    });
  }
}

/** Paths whose ls-tree line differs between two hash inputs. */
export function changedPaths(before: string, after: string): string[] {
  const entries = (input: string) => {
    const m = new Map<string, string>();
    for (const line of input.split("\n")) {
      const tab = line.indexOf("\t");
      if (tab > 0) m.set(line.slice(tab + 1), line.slice(0, tab));
    }
    return m;
  };
  const a = entries(before);
  const b = entries(after);
  const changed = new Set<string>();
  for (const [path, meta] of a) if (b.get(path) !== meta) changed.add(path);
  for (const path of b.keys()) if (!a.has(path)) changed.add(path);
  return [...changed].sort();
}
