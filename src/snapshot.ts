// `snapshot`: decides whether a task runs, is skipped, or is restored from the
// cache (SPEC §7), and what is saved once it has finished.
import type { TaskContext } from "./runner";
import { parseSnapshotArgs, hasInputs, type SnapshotArgs } from "./snapshot-args";
import { readHashFile, writeHashFile, type HashInfo } from "./hash-file";
import { hashInputs, mainBranchCommit } from "./hash-shim";
import { Reply } from "./protocol";
import { runPostUnpack } from "./post-unpack";

type Decision = { run: boolean; statusDescription: string | null };

export class SnapshotSession {
  private args: SnapshotArgs | null = null;
  /** Set when a successful end of this task should save a new hash. */
  private hashToSave: HashInfo | null = null;
  private skipped = false;

  constructor(private readonly ctx: TaskContext) {}

  async beforeStart(): Promise<void> {}

  /** Answers one `snapshot` request with shell code for the task to eval. */
  async handle(words: string[]): Promise<string> {
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
    let decision: Decision | { error: string };
    try {
      decision = await this.decide(parsed.args);
    } catch (e) {
      decision = { error: `snapshot command failed: ${(e as Error).message}` };
    }
    if ("error" in decision) {
      out.error(decision.error);
      return Reply.fail;
    }
    this.skipped = !decision.run;
    return decision.run ? Reply.run : Reply.skip;
  }

  private async decide(args: SnapshotArgs): Promise<Decision | { error: string }> {
    const { ctx } = this;
    const { out, config } = ctx;
    if (!hasInputs(args)) return { run: true, statusDescription: "not cached" };

    out.debug(`Files to hash: ${JSON.stringify(args.fileInputs)}`);
    out.debug(`Raw inputs: ${JSON.stringify(args.rawInputs)}`);
    const hashed = await hashInputs(ctx.cwd, args.fileInputs, args.rawInputs);
    if (!hashed.ok) return { error: `snapshot: ${hashed.error}` };
    const current: HashInfo = {
      hash: hashed.hash,
      hashInput: hashed.hashInput,
      mainBranchCommit: config.mainBranch ? await mainBranchCommit(ctx.cwd, config.mainBranch) : null,
    };

    const saved = readHashFile(ctx.paths.hashFile(ctx.job));
    if (saved.kind === "damaged") {
      out.debug(`Invalid HashInfo in hash file ${ctx.paths.hashFile(ctx.job)}: ${saved.reason}`);
    }
    const savedHash = saved.kind === "found" ? saved.info.hash : "";
    if (current.hash === savedHash && !ctx.force) {
      out.debug(`Hash matches, hash=${savedHash}, skipping`);
      return { run: false, statusDescription: "local cache hit" };
    }
    out.debug(`Hash mismatch, saved=${savedHash}, current=${current.hash}`);
    this.hashToSave = current;

    if (config.primeCacheMode) {
      out.debug("Prime cache mode, assuming task is done and skipping");
      return { run: false, statusDescription: null };
    }

    out.info("Inputs changed, running task");
    return { run: true, statusDescription: null };
  }

  /** After the task exited with code: post-unpack commands, messages, hash. Returns the final exit code. */
  async afterTask(exitCode: number): Promise<number> {
    const { ctx } = this;
    const { out } = ctx;
    let code = exitCode;
    const toSave = this.hashToSave;
    if (code === 0 && toSave && this.args) {
      for (const cmd of this.args.postUnpackCommands) {
        const failed = await runPostUnpack(ctx, cmd);
        if (failed !== null) {
          out.error(failed);
          code = 1;
          break;
        }
      }
    }
    if (this.skipped && !toSave && ctx.isToplevel) out.info("skipped, inputs unchanged");
    if (!this.skipped && toSave) {
      if (code === 0) out.info("success");
      else out.error(`Failed, exit code: ${code}`);
    }
    if (code === 0 && toSave && (await this.inputsStable(toSave))) {
      out.debug(`Saving hash ${toSave.hash} to ${ctx.paths.hashFile(ctx.job)}`);
      writeHashFile(ctx.paths.hashFile(ctx.job), toSave);
    }
    return code;
  }

  /**
   * A task that changed its own inputs while it ran would be skipped next time
   * with outputs made from other inputs: hash again, and save nothing if the
   * inputs moved.
   */
  private async inputsStable(before: HashInfo): Promise<boolean> {
    if (this.skipped || !this.args || this.args.fileInputs.length === 0) return true;
    const after = await hashInputs(this.ctx.cwd, this.args.fileInputs, this.args.rawInputs);
    if (after.ok && after.hash === before.hash) return true;
    const changed = after.ok ? changedPaths(before.hashInput, after.hashInput) : [];
    this.ctx.out.warn(
      `Inputs changed while the task ran${changed.length ? `: ${changed.join(", ")}` : ""}; not saving its hash, so the next run runs it again`,
    );
    return false;
  }

  /** Log upload and commit status, after the result is recorded. */
  async report(_code: number): Promise<void> {}
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
