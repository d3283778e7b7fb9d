// A restore stages its archive in a `.taskrunner-restore-*` folder (out of the
// work tree when it can, in the cache root when it cannot). Wherever one is —
// in the middle of a restore, or left behind by a crash — no input hash counts
// it: the fast route's walk skips it and the reference route excludes it from
// `git add`. Everything else under the pathspecs still counts as the old tool
// counted it.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { absoluteGitDir, hashInputs } from "../../src/hash";
import { Repos, gitEnv, sh } from "../fakes/git-repo";

const repos = new Repos();
afterAll(() => repos.cleanup());

const base = `mkdir -p src/sub && echo a > src/a.txt && echo b > src/sub/b.txt && git add . && git commit -qm init
echo u > src/untracked.txt`;

const staging = `mkdir -p .taskrunner-restore-Ab12Cd/out src/sub/.taskrunner-restore-x/deep
echo junk > .taskrunner-restore-Ab12Cd/out/file
echo junk > src/sub/.taskrunner-restore-x/deep/file
echo junk > src/.taskrunner-restore-leftover-file`;

for (const [name, specs, cwd] of [
  ["the whole repository", ["."], ""],
  ["a directory holding staging folders", ["src"], ""],
  ["from a subdirectory, through ..", [".."], "src"],
] as const) {
  test(`staging folders never count: ${name}`, async () => {
    const clean = repos.make(base);
    const polluted = repos.make(`${base}\n${staging}`);
    const at = (dir: string) => (cwd ? `${dir}/${cwd}` : dir);
    for (const route of ["reference", "fast"] as const) {
      const expected = await hashInputs(at(clean), [...specs], [], { env: process.env, route });
      const actual = await hashInputs(at(polluted), [...specs], [], { env: process.env, route });
      expect(expected.ok).toBe(true);
      expect({ route, ...actual }).toEqual({ route, ...expected });
    }
    // The untracked file next to them still counts.
    const listing = await hashInputs(at(polluted), [...specs], [], { env: process.env, route: "reference" });
    expect(listing.ok && listing.hashInput).toContain("src/untracked.txt");
  });
}

test("a file merely containing the name elsewhere in it still counts", async () => {
  const dir = repos.make(`${base}\necho kept > src/x.taskrunner-restore-y`);
  for (const route of ["reference", "fast"] as const) {
    const r = await hashInputs(dir, ["src"], [], { env: process.env, route });
    expect(r.ok && r.hashInput).toContain("src/x.taskrunner-restore-y");
  }
});

test("with GIT_LITERAL_PATHSPECS the reference route still hashes (and no exclude pathspec is misread)", async () => {
  const dir = repos.make(base);
  const before = process.env.GIT_LITERAL_PATHSPECS;
  process.env.GIT_LITERAL_PATHSPECS = "1";
  try {
    const r = await hashInputs(dir, ["src"], [], { env: process.env, route: "reference" });
    expect(r.ok).toBe(true);
  } finally {
    if (before === undefined) delete process.env.GIT_LITERAL_PATHSPECS;
    else process.env.GIT_LITERAL_PATHSPECS = before;
  }
});

test("where a restore stages: the git dir as `git rev-parse --absolute-git-dir` says it, in-process where it can be", async () => {
  const top = repos.make(`${base}\ngit commit -qm x --allow-empty\ngit worktree add -q ../wt-$(basename "$PWD")`);
  const worktree = join(top, "..", `wt-${top.split("/").pop()}`);
  const outside = realpathSync(mkdtempSync(join(tmpdir(), "no-repo-")));
  const linked = join(outside, "link");
  symlinkSync(join(top, "src"), linked);
  const git = (cwd: string, env: Record<string, string> = gitEnv) => {
    const p = Bun.spawnSync(["git", "rev-parse", "--absolute-git-dir"], { cwd, env });
    return p.success ? p.stdout.toString().trim() : null;
  };
  try {
    // No git on PATH: the plain cases are answered in-process, and answered as git does.
    const noGit = { ...gitEnv, PATH: "/nonexistent" };
    for (const cwd of [top, join(top, "src/sub"), linked, worktree, join(worktree, "src")]) {
      expect({ cwd, dir: await absoluteGitDir(cwd, noGit) }).toEqual({ cwd, dir: git(cwd) });
    }
    expect(git(worktree)).toContain(".git/worktrees/"); // the case is what it claims to be
    // Outside any repository, or with GIT_DIR: git's answer.
    expect(await absoluteGitDir(outside, gitEnv)).toBeNull();
    const other = repos.make("true");
    const withGitDir = { ...gitEnv, GIT_DIR: join(other, ".git") };
    expect(await absoluteGitDir(top, withGitDir)).toBe(git(top, withGitDir));
    expect(git(top, withGitDir)).toBe(join(other, ".git"));
  } finally {
    sh(top, `git worktree remove --force '${worktree}'`);
    rmSync(outside, { recursive: true, force: true });
  }
});
