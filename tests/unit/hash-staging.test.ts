// A restore stages its archive in a `.taskrunner-restore-*` folder (out of the
// work tree when it can, in the cache root when it cannot). Wherever one is —
// in the middle of a restore, or left behind by a crash — no input hash counts
// it: the fast route's walk skips it and the reference route excludes it from
// `git add`. Everything else under the pathspecs still counts as the old tool
// counted it.
import { afterAll, expect, test } from "bun:test";
import { hashInputs } from "../../src/hash";
import { Repos } from "../fakes/git-repo";

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
