// The snapshot decision without a binary: a real git repository, the real
// hashing, a real hash file and a directory store in a scratch directory; the
// decision comes back as a value, and what the task's log says is the output
// module's rendering of it.
import { test, expect, afterAll } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Repos, sh } from "../fakes/git-repo";
import { loadConfig } from "../../src/config";
import { readInternalEnv } from "../../src/internal-env";
import { Terminal, TaskOutput } from "../../src/output/output";
import { renderDecision } from "../../src/output/render";
import type { Decision } from "../../src/output/events";
import { createBuild } from "../../src/state/layout";
import { writeHashFile } from "../../src/state/hash-file";
import { TaskRecorder } from "../../src/trace/recorder";
import { TaskLife } from "../../src/outcome";
import { Interruption } from "../../src/sys/signals";
import { hashInputs } from "../../src/hash";
import { openRemoteCache, archiveName } from "../../src/cache";
import { commandInput, hashedRawInputs, parseSnapshotArgs } from "../../src/snapshot/args";
import { readHashFile } from "../../src/state/hash-file";
import { decide } from "../../src/snapshot/decision";
import type { TaskContext } from "../../src/task/context";

const repos = new Repos();
afterAll(() => repos.cleanup());
const devNull = openSync("/dev/null", "w");
afterAll(() => closeSync(devNull));

/** A repository with input.txt committed, a state directory and a directory store beside it. */
function fixture(env: Record<string, string> = {}) {
  const repo = repos.make(
    "echo foo > input.txt && git add input.txt && git -c user.name=t -c user.email=t@t commit -qm init",
  );
  const state = join(repo, ".git", "state");
  const store = join(repo, ".git", "store");
  mkdirSync(store);
  const config = loadConfig(
    {
      TASKRUNNER_STATE_DIRECTORY: state,
      TASKRUNNER_REMOTE_CACHE_DIR: store,
      TASKRUNNER_DISABLE_TIMESTAMPS: "1",
      ...env,
    },
    repo,
  );
  const paths = createBuild(state);
  if ("error" in paths) throw new Error(paths.error);
  return { repo, config, paths };
}

type Fixture = ReturnType<typeof fixture>;

/** decide() for `snapshot WORDS` in the fixture's repository; the decision and the task's log. */
/** A task's life as the runner has it when its snapshot request comes. */
function running(life: TaskLife): TaskLife {
  life.enter("starting");
  life.enter("running");
  return life;
}

async function decideFor(
  f: Fixture,
  words: string[],
  opts: { force?: boolean; store?: boolean; command?: string[] } = {},
) {
  const parsed = parseSnapshotArgs(words);
  if (!parsed.ok) throw new Error(parsed.error);
  const { args } = parsed;
  const logPath = join(f.paths.buildDir, "logs", "job.log");
  const logFd = openSync(logPath, "w");
  const out = new TaskOutput({
    job: "job",
    timestamps: false,
    showDebug: false,
    showInfo: false,
    quiet: false,
    terminal: new Terminal(devNull, devNull, null),
    logFd,
    logPath,
  });
  const ctx: TaskContext = {
    job: "job",
    command: opts.command ?? ["bash", "-c", "make"],
    env: {},
    internal: readInternalEnv({}),
    cwd: f.repo,
    umask: null,
    record: new TaskRecorder(),
    life: running(new TaskLife("job", null)),
    force: opts.force ?? false,
    isToplevel: true,
    inToplevelProcess: true,
    config: f.config,
    paths: f.paths,
    out,
    interruption: new Interruption(),
    uploads: null,
  };
  const cache = openRemoteCache(f.config, out, f.paths.buildDir);
  const decision = await decide(ctx, {
    args,
    cacheRoot: f.repo,
    missingOutputs: () => args.outputs.filter((o) => sh(f.repo, `test -e ${o} || echo missing`).trim() === "missing"),
    members: () => args.outputs,
    hash: () => hashInputs(f.repo, args.fileInputs, hashedRawInputs(args, ctx.command), { env: process.env }),
    remoteCache: async () => (opts.store ? cache : null),
    stagingParents: async () => [join(f.repo, ".git")],
  });
  out.say({ kind: "decided", decision });
  out.closeLog();
  return { decision, log: readFileSync(logPath, "utf8"), record: ctx.record, life: ctx.life };
}

/** The contract's test vector: input.txt = "foo\n". */
const HASH = "6b36308659163b577fd1c832107dc46ca3aa659b";

test("no inputs: the task runs, uncached, and nothing is said", async () => {
  const f = fixture();
  const { decision, log } = await decideFor(f, ["-o", "out"]);
  expect(decision).toEqual({ kind: "run", hashed: null });
  expect(log).toBe("");
});

test("first run: runs, with the reasons in its log, and no restore or fuzzy cache tried without a store", async () => {
  const f = fixture();
  const { decision, log } = await decideFor(f, ["input.txt", "--fuzzy-cache", "-o", "out"]);
  expect(decision).toMatchObject({
    kind: "run",
    fuzzy: false,
    hashed: {
      current: { hash: HASH },
      reasons: ["no saved hash: first run here (or the hash file was missing or damaged)"],
    },
  });
  expect(log).toBe(
    [
      'debug | Files to hash: ["input.txt"]',
      "debug | Raw inputs: []",
      `debug | Hash mismatch, saved=, current=${HASH}`,
      "debug | Rerun because no saved hash: first run here (or the hash file was missing or damaged)",
      "info | Inputs changed, running task",
      "",
    ].join("\n"),
  );
});

test("saved hash equal: skipped; a changed file, -f or a missing output: runs, saying why", async () => {
  const f = fixture();
  writeHashFile(f.paths.hashFile("job"), {
    hash: HASH,
    hashInput: `100644 blob 257cc5642cb1a054f08cc83f2d943e56fd3ebe99\tinput.txt`,
    mainBranchCommit: null,
  });
  sh(f.repo, "mkdir out");
  const skipped = await decideFor(f, ["input.txt", "-o", "out"]);
  expect(skipped.decision).toEqual({ kind: "skip", because: "unchanged", hash: HASH });
  expect(skipped.log).toContain(`debug | Hash matches, hash=${HASH}, skipping\n`);

  const forced = await decideFor(f, ["input.txt", "-o", "out"], { force: true });
  expect(forced.decision).toMatchObject({ kind: "run", hashed: { reasons: ["forced with -f"] } });

  sh(f.repo, "rmdir out");
  const missing = await decideFor(f, ["input.txt", "-o", "out"]);
  expect(missing.decision).toMatchObject({ kind: "run", hashed: { reasons: ["outputs missing: out"] } });
  expect(missing.log).toContain(
    "warn | Inputs unchanged but outputs missing (out), not skipping\ndebug | Rerun because outputs missing: out\n",
  );

  sh(f.repo, "echo bar > input.txt");
  const changed = await decideFor(f, ["input.txt"]);
  expect(changed.decision).toMatchObject({
    kind: "run",
    hashed: { reasons: ["files modified: input.txt"], saved: { hash: HASH } },
  });
});

test("prime-cache mode: skipped as done, with the new hash to save", async () => {
  const f = fixture({ TASKRUNNER_PRIME_CACHE_MODE: "1" });
  const { decision, log } = await decideFor(f, ["input.txt", "-o", "out"]);
  expect(decision).toMatchObject({ kind: "skip", because: "prime-cache", hashed: { current: { hash: HASH } } });
  expect(log).toContain("debug | Prime cache mode, assuming task is done and skipping\n");
});

test("inputs that cannot be hashed: a fault, said as one error line", async () => {
  const f = fixture();
  const { decision, log } = await decideFor(f, ["missing.txt"]);
  expect(decision).toEqual({ kind: "fault", message: "snapshot: pathspec 'missing.txt' did not match any files" });
  expect(log).toEndWith("error | snapshot: pathspec 'missing.txt' did not match any files\n");
});

test("the exact archive in the store: restored; uncommitted inputs: never restored, the task runs (fuzzy cache next)", async () => {
  const f = fixture();
  sh(f.repo, "mkdir out && echo built > out/file");
  const cache = openRemoteCache(f.config, { warn: () => {}, debug: () => {} }, f.paths.buildDir)!;
  expect(await cache.saveArchive(archiveName("job", null, HASH), f.repo, ["out"])).toMatchObject({ kind: "saved" });
  sh(f.repo, "rm -r out");

  const restored = await decideFor(f, ["input.txt", "-o", "out"], { store: true });
  expect(restored.decision).toMatchObject({ kind: "restore", archive: `job-${HASH}.tar.zst` });
  expect(restored.log).toContain(`info | Found remote cache job-${HASH}.tar.zst, restoring\n`);
  expect(restored.log).toEndWith("info | Restored from remote cache\n");
  expect(readFileSync(join(f.repo, "out", "file"), "utf8")).toBe("built\n");
  expect(restored.record.phases.map((p) => p.name)).toEqual(["hash", "restore"]);

  // An archive of exactly these inputs exists, but they are not committed: it may hold other work.
  sh(f.repo, "echo dirty > input.txt");
  const dirtyHash = await hashInputs(f.repo, ["input.txt"], [], { env: process.env });
  if (!dirtyHash.ok) throw new Error(dirtyHash.error);
  expect(await cache.saveArchive(archiveName("job", null, dirtyHash.hash), f.repo, ["out"])).toMatchObject({
    kind: "saved",
  });
  const dirty = await decideFor(f, ["input.txt", "--fuzzy-cache", "-o", "out"], { store: true });
  expect(dirty.decision).toMatchObject({ kind: "run", fuzzy: true, hashed: { current: { hash: dirtyHash.hash } } });
  expect(dirty.log).not.toContain("Found remote cache");
});

test("uncommitted inputs: the exact cache is not looked up, and the log and the task's record say which paths (a few)", async () => {
  const f = fixture();
  sh(
    f.repo,
    "for x in a b c d; do echo $x > $x.txt; done && git add . && git -c user.name=t -c user.email=t@t commit -qm more",
  );
  sh(f.repo, "echo changed > a.txt && echo changed > b.txt && git add b.txt && rm c.txt && echo new > untracked.txt");
  const dirty = await decideFor(f, [".", "-o", "out"], { store: true });
  expect(dirty.decision).toMatchObject({ kind: "run" });
  const line =
    "Remote cache not used: uncommitted changes to tracked inputs (a.txt, b.txt, c.txt); the exact remote cache is used only for committed inputs";
  expect(dirty.log).toContain(`debug | ${line}\n`);
  expect(dirty.life.notes).toEqual([line]);

  sh(f.repo, "echo changed > d.txt && echo changed > input.txt");
  const more = await decideFor(f, [".", "-o", "out"], { store: true });
  expect(more.life.notes).toEqual([line.replace("c.txt)", "c.txt and 2 more)")]);

  // Nothing to say without a store, or with -f: the cache would not be looked up anyway.
  expect((await decideFor(f, [".", "-o", "out"])).life.notes).toEqual([]);
  expect((await decideFor(f, [".", "-o", "out"], { store: true, force: true })).life.notes).toEqual([]);
  // Committed: looked up (a miss), nothing said.
  sh(f.repo, "git add -A && git -c user.name=t -c user.email=t@t commit -qm all");
  const clean = await decideFor(f, [".", "-o", "out"], { store: true });
  expect(clean.life.notes).toEqual([]);
  expect(clean.log).not.toContain("Remote cache not used");
});

test("--hash-command: the argv is one more raw input; a changed command reruns, saying so", async () => {
  const f = fixture();
  const first = await decideFor(f, ["input.txt", "--hash-command"], { command: ["make", "a"] });
  if (first.decision.kind !== "run" || !first.decision.hashed) throw new Error("expected a run");
  const { current } = first.decision.hashed;
  const raw = await hashInputs(f.repo, ["input.txt"], [commandInput(["make", "a"])], { env: process.env });
  expect(raw.ok && current.hash === raw.hash).toBe(true);
  expect(current.command).toEqual(["make", "a"]);
  expect(first.log).toContain('debug | Raw inputs: ["command: [\\"make\\",\\"a\\"]"]\n');

  writeHashFile(f.paths.hashFile("job"), current);
  expect(readHashFile(f.paths.hashFile("job"))).toMatchObject({
    kind: "found",
    info: { hash: current.hash, command: ["make", "a"] },
  });
  expect((await decideFor(f, ["input.txt", "--hash-command"], { command: ["make", "a"] })).decision).toMatchObject({
    kind: "skip",
  });
  const changed = await decideFor(f, ["input.txt", "--hash-command"], { command: ["make", "b"] });
  expect(changed.decision).toMatchObject({ kind: "run", hashed: { reasons: ["command changed (--hash-command)"] } });
  expect(changed.log).toContain("debug | Rerun because command changed (--hash-command)\n");
  // Without the option the command is not an input: as in the old tool, the hash is the contract's.
  expect((await decideFor(f, ["input.txt"], { command: ["make", "b"] })).decision).toMatchObject({
    kind: "run",
    hashed: { current: { hash: HASH } },
  });
});

test("the output module renders each decision as the contract words it", () => {
  const hashed = {
    current: { hash: HASH, hashInput: "", mainBranchCommit: null },
    saved: { hash: "", hashInput: "", mainBranchCommit: null },
    reasons: [],
  };
  const cases: [Decision, string[]][] = [
    [{ kind: "run", hashed: null }, []],
    [{ kind: "run", hashed, fuzzy: false }, ["info Inputs changed, running task"]],
    [{ kind: "skip", because: "unchanged", hash: HASH }, [`debug Hash matches, hash=${HASH}, skipping`]],
    [{ kind: "skip", because: "prime-cache", hashed }, ["debug Prime cache mode, assuming task is done and skipping"]],
    [{ kind: "restore", archive: "a.tar.zst", hashed }, ["info Restored from remote cache"]],
    [
      { kind: "fault", message: "snapshot: Invalid option or missing argument: --raw" },
      ["error snapshot: Invalid option or missing argument: --raw"],
    ],
    [{ kind: "interrupted" }, []],
  ];
  for (const [d, lines] of cases) expect(renderDecision(d).map((m) => `${m.level} ${m.text}`)).toEqual(lines);
});
