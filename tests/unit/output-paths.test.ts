// Where declared outputs live and what the archive calls them: relative to the
// task's start directory, named relative to the cache root (as the old tool's
// `tar -c` in the cache root named them).
import { test, expect, describe } from "bun:test";
import { cacheRootOf, placeOutputs } from "../../src/output-paths";

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

  test("the cache root itself may be / ", () => {
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

describe("cacheRootOf", () => {
  test("--cache-root, else TASKRUNNER_ROOT_DIRECTORY; relative ones from the start directory", () => {
    expect(cacheRootOf("/repo/nested", null, "/repo")).toBe("/repo");
    expect(cacheRootOf("/repo/nested", "..", "/elsewhere")).toBe("/repo");
    expect(cacheRootOf("/repo/nested", null, "../other")).toBe("/repo/other");
    expect(cacheRootOf("/repo/nested", "/abs/", "/repo")).toBe("/abs");
  });
});
