// Where declared outputs live and what the archive calls them: relative to the
// task's start directory, named relative to the cache root (as the old tool's
// `tar -c` in the cache root named them).
import { test, expect, describe, afterAll } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cacheRootOf, placeOutputs } from "../../src/snapshot/output-paths";

describe("placeOutputs", () => {
  test("outputs on both sides of the start directory, named relative to the cache root", () => {
    expect(placeOutputs("/repo/nested", "/repo", ["output.txt", "../output2.txt"])).toEqual({
      ok: true,
      outputs: [
        { declared: "output.txt", path: "/repo/nested/output.txt", member: "nested/output.txt" },
        { declared: "../output2.txt", path: "/repo/output2.txt", member: "output2.txt" },
      ],
    });
  });

  test("./, a trailing slash, `..` inside and absolute paths are normalised", () => {
    const placed = placeOutputs("/repo/a/b", "/repo", ["./dist/", "../c/../d", "/repo/x/y", "../.."]);
    expect(placed.ok && placed.outputs.map((o) => [o.path, o.member])).toEqual([
      ["/repo/a/b/dist", "a/b/dist"],
      ["/repo/a/d", "a/d"],
      ["/repo/x/y", "x/y"],
      ["/repo", "."],
    ]);
  });

  test("the cache root itself may be /", () => {
    const placed = placeOutputs("/home/u", "/", ["x"]);
    expect(placed.ok && placed.outputs[0].member).toBe("home/u/x");
  });

  test("an output outside the cache root is an error naming it, its absolute path and the root", () => {
    expect(placeOutputs("/repo/nested", "/repo/nested", ["ok", "../up.txt"])).toEqual({
      ok: false,
      error: "output ../up.txt (/repo/up.txt) is outside the cache root /repo/nested",
    });
    // A sibling whose name starts like the root's is still outside it.
    expect(placeOutputs("/repo", "/repo", ["/repo-other/x"])).toEqual({
      ok: false,
      error: "output /repo-other/x is outside the cache root /repo",
    });
  });
});

describe("placeOutputs through symlinks", () => {
  // The start directory is physical (getcwd); a root or an output may be named through a link.
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "output-paths-")));
  const repo = join(dir, "repo");
  mkdirSync(join(repo, "nested"), { recursive: true });
  mkdirSync(join(dir, "elsewhere"));
  symlinkSync(repo, join(dir, "link"));
  symlinkSync(join(dir, "elsewhere"), join(repo, "nested", "out-link"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a root named through a link still contains the physical start directory", () => {
    const placed = placeOutputs(join(repo, "nested"), join(dir, "link"), [
      "output.txt",
      "../output2.txt",
      "not/made/yet",
    ]);
    expect(placed.ok && placed.outputs.map((o) => [o.path, o.member])).toEqual([
      [join(repo, "nested/output.txt"), "nested/output.txt"],
      [join(repo, "output2.txt"), "output2.txt"],
      [join(repo, "nested/not/made/yet"), "nested/not/made/yet"],
    ]);
  });

  test("an output named through a link to the root is inside it; the output itself is not followed", () => {
    const placed = placeOutputs(join(repo, "nested"), repo, [join(dir, "link", "x"), "out-link"]);
    expect(placed.ok && placed.outputs.map((o) => o.member)).toEqual(["x", "nested/out-link"]);
  });

  test("outside stays outside, linked or not", () => {
    expect(placeOutputs(repo, join(dir, "link", "nested"), ["x"]).ok).toBe(false);
    expect(placeOutputs(repo, join(dir, "no-such-root"), ["x"]).ok).toBe(false);
  });
});

describe("cacheRootOf", () => {
  test("--cache-root, else TASKRUNNER_ROOT_DIRECTORY; relative ones from the start directory", () => {
    expect(cacheRootOf("/repo/nested", null, "/repo")).toBe("/repo");
    expect(cacheRootOf("/repo/nested", "..", "/elsewhere")).toBe("/repo");
    expect(cacheRootOf("/repo/nested", null, "../other")).toBe("/repo/other");
    expect(cacheRootOf("/repo/nested", "/abs/", "/repo")).toBe("/abs");
  });
});
