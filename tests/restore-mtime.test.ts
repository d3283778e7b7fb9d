// What incremental tools make of restored outputs. A build on one machine
// uploads its outputs; a fresh clone on "another machine" (no local state)
// restores them from the directory store and asks make, or tsc --build,
// whether anything is left to do. By default an exact hit is stamped with the
// time of the restore, so nothing is; TASKRUNNER_RESTORE_MTIME=archive keeps
// the archived times exactly, as the old tool did, and the tools redo the
// work; a fuzzy restore keeps them too, so the work its changed inputs need is
// redone.
import { afterEach, beforeAll, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { runToEnd, scratch, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";

beforeAll(ensureBinary, 120_000);

const TSC = join(import.meta.dir, "..", "node_modules", ".bin", "tsc");
/** The make tests need GNU make (Debian's `make`, which .ci/run installs). */
const NO_MAKE = Bun.which("make") ? "" : " (skipped: no make on this machine; apt-get install make)";

const scratches: Scratch[] = [];
afterEach(() => {
  for (const s of scratches.splice(0)) s.cleanup();
});

/** The first machine's repository (its work tree builds and uploads) and a store both machines use. */
function origin(prefix: string, files: Record<string, string>): { s: Scratch; env: Record<string, string> } {
  const s = scratch(prefix);
  scratches.push(s);
  for (const [path, text] of Object.entries(files)) {
    sh(s.work, `mkdir -p "$(dirname '${path}')"`);
    writeFileSync(join(s.work, path), text);
  }
  sh(s.work, "git init -q -b main . && git add . && git commit -qm init");
  mkdirSync(join(s.dir, "store"));
  return { s, env: { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "store"), TASKRUNNER_LOG_INFO: "1" } };
}

/** Another machine: a fresh clone of the origin, its own (empty) state directory. */
function freshClone(from: Scratch): Scratch {
  const s = scratch("clone");
  scratches.push(s);
  sh(s.work, `git clone -q '${from.work}' .`);
  return s;
}

async function run(s: Scratch, args: string[], env: Record<string, string>) {
  const r = await runToEnd(s, args, env);
  return { code: r.code, output: new TextDecoder().decode(r.stdout) + r.stderr };
}

/** A chain of rules, written over more than a second (as a long build would), and a symlink among the outputs. */
const MAKE_PROJECT = {
  ".gitignore": "/out/\n",
  Makefile: [
    "out/all.txt: out/a.txt out/b.txt",
    "\tsleep 1.1 && cat out/a.txt out/b.txt > $@ && ln -sf all.txt out/link",
    "out/%.txt: src/%.in",
    "\tmkdir -p out/sub && cp $< $@ && cp $< out/sub/$*.copy",
    "",
  ].join("\n"),
  "src/a.in": "a1\n",
  "src/b.in": "b1\n",
};
const MAKE_TASK = ["-n", "build", "bash", "-c", "snapshot Makefile src -o out --fuzzy-cache; make"];

/** Every path under `root/rel` (itself included), not following symlinks. */
function members(root: string, rel: string): string[] {
  const st = lstatSync(join(root, rel));
  if (!st.isDirectory()) return [rel];
  return [
    rel,
    ...readdirSync(join(root, rel))
      .sort()
      .flatMap((name) => members(root, `${rel}/${name}`)),
  ];
}

const mtimeMs = (root: string, rel: string) => lstatSync(join(root, rel)).mtimeMs;

/** `make -q`: 0 when every target is up to date, 1 when something would be made. */
const makeQ = (s: Scratch) => Bun.spawnSync(["make", "-q"], { cwd: s.work, stdout: "ignore", stderr: "pipe" }).exitCode;

test.skipIf(NO_MAKE !== "")(
  `make: a fresh clone restoring an exact hit finds every target up to date (make -q)${NO_MAKE}`,
  async () => {
    const { s, env } = origin("mtime-make", MAKE_PROJECT);
    expect((await run(s, MAKE_TASK, { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).code).toBe(0);

    const c = freshClone(s);
    const checkedOut = Math.max(...["Makefile", "src/a.in", "src/b.in"].map((p) => mtimeMs(c.work, p)));
    const before = Date.now();
    const r = await run(c, MAKE_TASK, env);
    expect(r.output).toContain("Restored from remote cache");
    expect(r.code).toBe(0);
    expect(makeQ(c)).toBe(0);

    // One instant for every member — files, directories, the symlink: no later than the restore, no earlier than the checkout.
    // To the nanosecond: a directory a hair newer than the files in it would be newer than a target that depends on it.
    const times = new Set(members(c.work, "out").map((m) => lstatSync(join(c.work, m), { bigint: true }).mtimeNs));
    expect(times.size).toBe(1);
    const stamp = mtimeMs(c.work, "out");
    expect(stamp).toBeGreaterThanOrEqual(checkedOut);
    expect(stamp).toBeGreaterThanOrEqual(before - 1);
    expect(stamp).toBeLessThanOrEqual(Date.now());
    expect(readFileSync(join(c.work, "out/all.txt"), "utf8")).toBe("a1\nb1\n");
  },
  60_000,
);

test.skipIf(NO_MAKE !== "")(
  `TASKRUNNER_RESTORE_MTIME=archive restores the archived times exactly, as the old tool did${NO_MAKE}`,
  async () => {
    const { s, env } = origin("mtime-archive", MAKE_PROJECT);
    expect((await run(s, MAKE_TASK, { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).code).toBe(0);
    const built = members(s.work, "out");
    // The tar headers hold whole seconds.
    const archived = built.map((m) => [m, Math.floor(mtimeMs(s.work, m) / 1000) * 1000]);
    expect(new Set(archived.map(([, t]) => t)).size).toBeGreaterThan(1);

    const c = freshClone(s);
    const r = await run(c, MAKE_TASK, { ...env, TASKRUNNER_RESTORE_MTIME: "archive" });
    expect(r.output).toContain("Restored from remote cache");
    expect(members(c.work, "out")).toEqual(built);
    expect(built.map((m) => [m, mtimeMs(c.work, m)])).toEqual(archived);
    // Which is why it is not the default: every output is older than the checkout.
    expect(makeQ(c)).toBe(1);
  },
  60_000,
);

test.skipIf(NO_MAKE !== "")(
  `a fuzzy restore keeps the archived times: make redoes what the changed input needs${NO_MAKE}`,
  async () => {
    const { s, env } = origin("mtime-fuzzy", MAKE_PROJECT);
    expect((await run(s, MAKE_TASK, { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" })).code).toBe(0);

    const c = freshClone(s);
    sh(c.work, "echo a2 > src/a.in && git commit -qam a2");
    const r = await run(c, MAKE_TASK, env);
    expect(r.output).toContain("Restored fuzzy cache from branch main");
    expect(r.code).toBe(0);
    // Stamped with the restore's time, out/a.txt would look newer than src/a.in and stay "a1".
    expect(readFileSync(join(c.work, "out/all.txt"), "utf8")).toBe("a2\nb1\n");
    expect(readFileSync(join(c.work, "out/sub/a.copy"), "utf8")).toBe("a2\n");
    expect(makeQ(c)).toBe(0);
  },
  60_000,
);

/** Two composite projects, b referencing a, built by one `tsc --build` of the solution. */
const TS_PROJECT = {
  ".gitignore": "dist/\n",
  "package.json": '{ "name": "mtime-ts", "private": true }\n',
  "tsconfig.json": '{ "files": [], "references": [{ "path": "packages/a" }, { "path": "packages/b" }] }\n',
  "tsconfig.base.json": JSON.stringify({
    compilerOptions: {
      composite: true,
      rootDir: "${configDir}/src",
      outDir: "${configDir}/dist",
      tsBuildInfoFile: "${configDir}/dist/tsconfig.tsbuildinfo",
      module: "commonjs",
      target: "es2020",
      strict: true,
      types: [],
    },
    include: ["${configDir}/src"],
  }),
  "packages/a/tsconfig.json": '{ "extends": "../../tsconfig.base.json" }\n',
  "packages/a/src/index.ts": "export const greeting: string = 'hello';\n",
  "packages/b/tsconfig.json": '{ "extends": "../../tsconfig.base.json", "references": [{ "path": "../a" }] }\n',
  "packages/b/src/index.ts":
    "import { greeting } from '../../a/src/index';\nexport const shout = greeting.toUpperCase();\n",
};
const TS_TASK = [
  "-n",
  "compile",
  "bash",
  "-c",
  `snapshot packages tsconfig.json tsconfig.base.json -o packages/a/dist packages/b/dist; '${TSC}' --build`,
];

/** What `tsc --build --verbose --dry` says of each project. */
function tscDry(s: Scratch): string {
  const p = Bun.spawnSync([TSC, "--build", "--verbose", "--dry"], { cwd: s.work, stdout: "pipe", stderr: "pipe" });
  return p.stdout.toString() + p.stderr.toString();
}

test("tsc --build: a fresh clone restoring an exact hit (dist with its tsbuildinfo) is up to date", async () => {
  const { s, env } = origin("mtime-tsc", TS_PROJECT);
  const built = await run(s, TS_TASK, { ...env, TASKRUNNER_SAVE_REMOTE_CACHE: "1" });
  expect(built).toMatchObject({ code: 0 });
  for (const p of ["a", "b"])
    expect(readdirSync(join(s.work, "packages", p, "dist")).sort()).toEqual([
      "index.d.ts",
      "index.js",
      "tsconfig.tsbuildinfo",
    ]);

  const c = freshClone(s);
  const r = await run(c, TS_TASK, env);
  expect(r.output).toContain("Restored from remote cache");
  const dry = tscDry(c);
  expect(dry).toContain("Project 'packages/a/tsconfig.json' is up to date");
  expect(dry).toContain("Project 'packages/b/tsconfig.json' is up to date");
  expect(dry).not.toContain("would build");

  // The old tool's times: older than the checkout, so tsc would build both again.
  const old = freshClone(s);
  expect((await run(old, TS_TASK, { ...env, TASKRUNNER_RESTORE_MTIME: "archive" })).output).toContain(
    "Restored from remote cache",
  );
  const oldDry = tscDry(old);
  expect(oldDry).toContain("Project 'packages/a/tsconfig.json' is out of date");
  expect(oldDry).toContain("A non-dry build would build project");
}, 90_000);

test("a TASKRUNNER_RESTORE_MTIME the runner does not know is one clear line", async () => {
  const { s } = origin("mtime-bad", { "input.txt": "x\n" });
  const r = await run(s, ["-n", "t", "true"], { TASKRUNNER_RESTORE_MTIME: "now" });
  expect(r.code).not.toBe(0);
  expect(r.output.trim()).toBe('taskrunner: TASKRUNNER_RESTORE_MTIME="now" is not valid: expected restore or archive');
}, 30_000);
