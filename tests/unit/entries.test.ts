// What the main entry point of the binary carries: nothing that costs every
// start and serves only some runs. The AWS SDK, octokit and tar (src/remote.ts)
// and citty's parser, with node:util (src/usage.ts), are entries of their own,
// loaded when needed (CONTRIBUTING.md, "Layout"). Bundled here as build.ts bundles
// them, all entries together: the bundler puts a module shared by two entries
// into both, with every export either one uses.
import { test, expect, afterAll } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SRC = join(import.meta.dir, "../../src");
const out = mkdtempSync(join(tmpdir(), "entries-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

test("the main entry imports neither node:util nor the remote entry's packages; those entries exist", async () => {
  const result = await Bun.build({
    entrypoints: ["main.ts", "remote.ts", "usage.ts"].map((f) => join(SRC, f)),
    outdir: out,
    target: "bun",
    minify: true,
  });
  expect(result.success).toBe(true);
  const main = readFileSync(join(out, "main.js"), "utf8");
  // External imports are hoisted to the top of the bundle, so they load at every start.
  const externals = [...main.matchAll(/\bfrom\s*"([^"]+)"/g)].map((m) => m[1]);
  expect(externals.filter((e) => !["bun:ffi"].includes(e))).toEqual([]);
  // A text each package carries (the AWS SDK, octokit, tar, citty's parser), found where it belongs and only there.
  const marks = {
    remote: ["@aws-sdk/client-s3", "octokit-core.js", "NextFileHasLongPath"],
    usage: ["Missing required positional argument"],
  };
  const bundles = {
    main,
    remote: readFileSync(join(out, "remote.js"), "utf8"),
    usage: readFileSync(join(out, "usage.js"), "utf8"),
  };
  for (const [entry, texts] of Object.entries(marks)) {
    for (const text of texts) {
      expect({ text, inMain: main.includes(text) }).toEqual({ text, inMain: false });
      expect({ text, inEntry: bundles[entry as keyof typeof marks].includes(text) }).toEqual({ text, inEntry: true });
    }
  }
  expect(bundles.usage).toMatch(/from\s*"(node:)?util"/);
});
