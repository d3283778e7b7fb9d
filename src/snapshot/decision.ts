// The snapshot decision (docs/contract.md §7, "Decision procedure", steps 1–5): whether a
// task runs, is skipped, or is restored from the remote archive of its exact
// hash. It returns the outcome as a value (output/events.ts Decision) and
// says what it notices on the way (a damaged hash file, missing outputs, why
// the task does not skip, a restore that fails) as events; the output module
// renders both. What happens next — the reply to the task, the fuzzy cache
// before a run, the commit status — is the session's (session.ts).
import { replacingInvalid } from "../sys/bytes";
import type { TaskContext } from "../task/context";
import type { Decision, Hashed } from "../output/events";
import type { HashResult } from "../hash";
import type { RemoteCache, RestoreOutcome } from "../remote";
import type { CacheFacts } from "../trace/recorder";
import { loadRemote } from "../load-remote";
import { readHashFile, type HashInfo } from "../state/hash-file";
import { hasInputs, hashedRawInputs, usesRemoteCache, type SnapshotArgs } from "./args";
import { explainChange } from "./rerun-reasons";
import { noteOf } from "../output/render";

/** What the decision needs of the session: the request, and how to hash, find the store and place outputs. */
export interface DecisionInputs {
  args: SnapshotArgs;
  /** The cache root (absolute): where archives are extracted. */
  cacheRoot: string;
  /** The declared outputs that are not there (as declared). */
  missingOutputs(): string[];
  /** The declared outputs as archive member names (none when one lies outside the cache root). */
  members(): string[];
  hash(): Promise<HashResult>;
  remoteCache(): Promise<RemoteCache | null>;
  /** Where a restore may stage (cache/restore.ts): places no input hash sees. */
  stagingParents(): Promise<string[]>;
}

const EMPTY_HASH: HashInfo = { hash: "", hashInput: "", mainBranchCommit: null };

// Loaded on first use: a nested task answered by the toplevel's hashing service never needs it.
const git = () => import("../hash");

export async function decide(ctx: TaskContext, inputs: DecisionInputs): Promise<Decision> {
  const { out, config } = ctx;
  const { args } = inputs;
  if (!hasInputs(args)) return { kind: "run", hashed: null };

  out.say({ kind: "hashing", files: args.fileInputs, raw: hashedRawInputs(args, ctx.command) });
  // The hash is the old tool's: its `git ls-tree` step takes every pathspec
  // literally, so what a wildcard matches is added but not hashed. Said where a
  // user looking for why a task did not rerun will look.
  const wildcards = args.fileInputs.filter((p) => /[*?[]/.test(p));
  if (wildcards.length > 0) out.say({ kind: "wildcards-literal", pathspecs: wildcards });
  const hashed = await ctx.record.phase("hash", inputs.hash);
  if (!hashed.ok) return { kind: "fault", message: `snapshot: ${hashed.error}` };

  const hashFile = ctx.paths.hashFile(ctx.job);
  const savedFile = readHashFile(hashFile);
  if (savedFile.kind === "damaged") out.say({ kind: "hash-file-damaged", path: hashFile, reason: savedFile.reason });
  const saved = savedFile.kind === "found" ? savedFile.info : EMPTY_HASH;
  const unchanged = hashed.hash === saved.hash && !ctx.force;
  const missing = unchanged ? inputs.missingOutputs() : [];
  if (unchanged && missing.length === 0) return { kind: "skip", because: "unchanged", hash: saved.hash };

  // Only now: a skipped task needs no `git merge-base` process.
  const current: HashInfo = {
    hash: hashed.hash,
    hashInput: hashed.hashInput,
    mainBranchCommit: config.mainBranch
      ? await (await git()).mainBranchCommit(ctx.cwd, config.mainBranch, ctx.env)
      : null,
    rawInputs: args.rawInputs.map(replacingInvalid), // as hashed: the hash file stays UTF-8 JSON the old tool reads
    ...(args.hashCommand ? { command: ctx.command } : {}),
  };
  const facts: Hashed = { current, saved, reasons: [] };
  if (unchanged) {
    out.say({ kind: "outputs-missing", outputs: missing });
    facts.reasons = [`outputs missing: ${missing.join(", ")}`];
    out.say({ kind: "rerun", mismatch: null, reasons: facts.reasons });
  } else if (current.hash === saved.hash) {
    facts.reasons = ["forced with -f"];
    out.say({ kind: "rerun", mismatch: null, reasons: facts.reasons });
  } else {
    facts.reasons = explainChange(saved, current);
    out.say({ kind: "rerun", mismatch: { saved: saved.hash, current: current.hash }, reasons: facts.reasons });
  }

  if (config.primeCacheMode) return { kind: "skip", because: "prime-cache", hashed: facts };

  // Never with -f, nor when the inputs have uncommitted changes: the archive of this hash may hold other work.
  const cache = usesRemoteCache(args) && !ctx.force ? await inputs.remoteCache() : null;
  if (usesRemoteCache(args) && !cache) {
    ctx.record.cache = { lookup: "not-tried", why: ctx.force ? "forced with -f" : "no store configured" };
  }
  if (cache && (await (await git()).hasUncommittedChanges(ctx.cwd, args.fileInputs, { env: ctx.env }))) {
    ctx.record.cache = { lookup: "not-tried", why: "uncommitted changes to inputs" };
    // Said in the log and in --explain: a user who expected a cache hit looks there.
    const notTried = {
      kind: "remote-not-tried",
      uncommitted: await (await git()).uncommittedPaths(ctx.cwd, args.fileInputs, ctx.env),
    } as const;
    out.say(notTried);
    ctx.life.note(noteOf(notTried));
  } else if (cache) {
    const { archiveName } = await loadRemote();
    const archive = archiveName(ctx.job, args.cacheVersion, current.hash);
    const restored = await ctx.record.phase("restore", () =>
      cache.restoreArchive(archive, inputs.cacheRoot, {
        onFound: () => out.say({ kind: "remote-found", archive }),
        identity: { kind: "archive", job: ctx.job, version: args.cacheVersion, hash: current.hash },
        stagingParents: inputs.stagingParents,
        outputs: inputs.members(),
        signal: ctx.interruption.signal,
        // An exact hit is what a build of these inputs makes: it may look up to date with the checkout.
        // Not a fuzzy restore (session.ts): its outputs are of other inputs, which only their old times betray.
        stampRestoreTime: config.restoreMtime === "restore",
      }),
    );
    ctx.record.cache = cacheFacts(restored, "exact");
    if (restored.kind === "restored") return { kind: "restore", archive, hashed: facts };
    if (restored.kind === "interrupted") return { kind: "interrupted" };
    if (restored.kind === "failed") out.say({ kind: "remote-not-used", message: restored.message });
  }

  // Step 7's condition: the main-branch commit moved since the saved hash (or none is tracked).
  const fuzzy =
    cache !== null &&
    args.fuzzyCache &&
    (saved.mainBranchCommit === null || saved.mainBranchCommit !== current.mainBranchCommit);
  return { kind: "run", hashed: facts, fuzzy };
}

/** What a lookup of the remote cache comes to, for the task's record (the build summary shows it). */
export function cacheFacts(restored: RestoreOutcome, hit: "exact" | "fuzzy", why?: string): CacheFacts | undefined {
  switch (restored.kind) {
    case "restored":
      return {
        lookup: hit,
        ...(why ? { why } : {}),
        down: restored.bytes,
        ...(restored.runMs === null ? {} : { savedMs: restored.runMs }),
      };
    case "miss":
      return { lookup: "miss", why: "no archive for this hash" };
    case "failed":
      return { lookup: "miss", why: restored.message };
    case "interrupted":
      return undefined;
  }
}
