// Release binaries are reproducible: two clones of this working tree, at paths of different
// lengths, build the same bytes — the host binary and every release target checked here.
//
// Which targets: darwin-x64 always (its runtime is what tests/build.test.ts downloads anyway,
// and it is the one build.ts re-signs), and all of them when Bun has every target's runtime
// in its cache (after one `npm run build:all` on this machine) or with
// TASKRUNNER_TEST_ALL_TARGETS=1 (which downloads the missing ones, ~40 MB each, from the npm
// registry). So `npm test` never downloads more than the signature test does, and CI's
// release-build job checks the whole set after building it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { TARGETS } from "../build";

const ROOT = resolve(import.meta.dir, "..");

function run(argv: string[], cwd: string): string {
  const p = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe" });
  if (!p.success) throw new Error(`${argv.join(" ")} failed (${p.exitCode}):\n${p.stdout}${p.stderr}`);
  return p.stdout.toString();
}

// Where Bun keeps the runtimes it downloads for cross-compiling, as bun-<os>-<arch>-v<version>
// (aarch64 for arm64). A target of the host's own platform uses the running Bun instead.
const BUN_CACHE =
  process.env.BUN_INSTALL_CACHE_DIR ?? join(process.env.BUN_INSTALL ?? join(homedir(), ".bun"), "install", "cache");

function runtimeAtHand(target: string): boolean {
  const [os, arch, ...variant] = target.split("-");
  if (variant.length === 0 && os === process.platform && arch === process.arch) return true;
  const name = ["bun", os, arch === "arm64" ? "aarch64" : arch, ...variant, `v${Bun.version}`].join("-");
  return existsSync(join(BUN_CACHE, name));
}

const everyTarget = process.env.TASKRUNNER_TEST_ALL_TARGETS === "1" || TARGETS.every(runtimeAtHand);
const targets: string[] = everyTarget ? [...TARGETS] : ["darwin-x64"];
const unchecked = TARGETS.filter((t) => !targets.includes(t));

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "reproducible-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * A clone of this working tree at `dest`: the commit checked out here, plus the uncommitted
 * and untracked (not ignored) files, so that what is tested is what is in the folder;
 * node_modules is hard-linked (the same files, under the clone's own path).
 */
function cloneWorkingTree(dest: string): void {
  mkdirSync(dirname(dest), { recursive: true });
  run(["git", "clone", "--quiet", "--no-checkout", ROOT, dest], scratch);
  run(["git", "checkout", "--quiet", "--detach", run(["git", "rev-parse", "HEAD"], ROOT).trim()], dest);
  const changed = run(["git", "ls-files", "-z", "--modified", "--others", "--exclude-standard"], ROOT).split("\0");
  for (const file of changed.filter(Boolean)) {
    if (existsSync(join(ROOT, file))) {
      mkdirSync(dirname(join(dest, file)), { recursive: true });
      copyFileSync(join(ROOT, file), join(dest, file));
    } else {
      rmSync(join(dest, file), { force: true });
    }
  }
  run(["cp", "-al", join(ROOT, "node_modules"), join(dest, "node_modules")], scratch);
}

async function build(clone: string, args: string[]): Promise<void> {
  const p = Bun.spawn([process.execPath, "build.ts", ...args], { cwd: clone, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`bun build.ts ${args.join(" ")} in ${clone} exited ${code}:\n${out}${err}`);
}

const sha256 = (buf: Buffer) => createHash("sha256").update(buf).digest("hex");

/** "" when the files are equal, else where they first differ. */
function difference(a: string, b: string): string {
  const [x, y] = [readFileSync(a), readFileSync(b)];
  if (x.equals(y)) return "";
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  const around = (buf: Buffer) => JSON.stringify(buf.toString("latin1", Math.max(0, i - 24), i + 40));
  return `differs from byte ${i} (sizes ${x.length} and ${y.length}; sha256 ${sha256(x)} and ${sha256(y)}): ${around(x)} vs ${around(y)}`;
}

const title =
  `two clones at different paths build the same bytes: the host binary and ${everyTarget ? "every release target" : targets.join(", ")}` +
  (unchecked.length
    ? ` (${unchecked.join(", ")}: not checked, their Bun runtimes are not cached; TASKRUNNER_TEST_ALL_TARGETS=1 fetches them)`
    : "");

// On a cold cache darwin-x64's runtime is downloaded once; each build of all targets takes
// ~10 s here (more on a loaded machine).
test(title, async () => {
  const clones = [join(scratch, "a"), join(scratch, "a-second-clone-with-a-longer-path", "b")];
  for (const clone of clones) {
    cloneWorkingTree(clone);
    await build(clone, []);
    await build(
      clone,
      targets.flatMap((t) => ["--target", t]),
    );
  }
  const [a, b] = clones.map((c) => join(c, "dist"));
  const files = readdirSync(a).sort();
  expect(files).toEqual(["SHA256SUMS", "taskrunner", ...targets.map((t) => `taskrunner-${t}`)].sort());
  expect(readdirSync(b).sort()).toEqual(files);
  const differences = files.map((f) => [f, difference(join(a, f), join(b, f))]).filter(([, d]) => d !== "");
  expect(differences).toEqual([]);
}, 600_000);
