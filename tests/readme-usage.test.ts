// The README's usage example, run as written: its ci.sh, taken from the README, in a git
// repository with src/ and package-lock.json, with a stand-in `npm` that prints the lines a
// project's lint, tests and bundler would. What taskrunner prints must be the README's
// output block (timestamps aside), and a failing parallel task must fail the build.
import { beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { runToEnd, scratch, type Scratch } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

const README = readFileSync(resolve(import.meta.dir, "..", "README.md"), "utf8");

/** The fenced block that follows `after` in the README. */
function blockAfter(after: string): string {
  const at = README.indexOf(after);
  if (at < 0) throw new Error(`README has no "${after}"`);
  const open = README.indexOf("```", at);
  const start = README.indexOf("\n", open) + 1;
  return README.slice(start, README.indexOf("```", start));
}

const CI_SH = blockAfter("A script `ci.sh`:");
/** The output the README shows, without its timestamps. */
const SHOWN = blockAfter("`taskrunner -n ci ./ci.sh` prints")
  .trimEnd()
  .split("\n")
  .map((l) => l.replace(/^\d\d:\d\d:\d\d /, ""));

// Stands in for npm: `npm run --silent NAME` prints what the project's script would, and
// LINT_EXIT / TEST_EXIT make lint or the tests fail. Each call is logged, to see what ran.
const NPM = `#!/bin/sh
echo "$*" >> "$NPM_LOG"
case "$*" in
  "run --silent lint") sleep 1; echo "src/x.ts: warning ..." >&2; exit "\${LINT_EXIT:-0}" ;;
  "run --silent test") echo "120 pass"; exit "\${TEST_EXIT:-0}" ;;
  "run --silent bundle") mkdir -p dist && echo "bundled 42 modules" | tee dist/bundle.js ;;
  *) echo "npm stand-in: unexpected arguments: $*" >&2; exit 2 ;;
esac
`;

function project(): Scratch {
  const s = scratch("readme-usage");
  const bin = join(s.dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "npm"), NPM);
  chmodSync(join(bin, "npm"), 0o755);
  s.env.PATH = `${bin}:${s.env.PATH}`;
  s.env.NPM_LOG = join(s.dir, "npm.log");
  mkdirSync(join(s.work, "src"));
  writeFileSync(join(s.work, "src", "x.ts"), "export const x = 1;\n");
  writeFileSync(join(s.work, "package-lock.json"), "{}\n");
  writeFileSync(join(s.work, ".gitignore"), "dist/\n");
  writeFileSync(join(s.work, "ci.sh"), CI_SH, { mode: 0o755 });
  for (const argv of [
    ["init", "-q"],
    ["add", "."],
    ["commit", "-qm", "init"],
  ]) {
    const p = Bun.spawnSync(["git", ...argv], { cwd: s.work, env: s.env });
    if (!p.success) throw new Error(`git ${argv.join(" ")}: ${p.stderr}`);
  }
  return s;
}

async function ci(s: Scratch, env: Record<string, string> = {}) {
  const r = await runToEnd(s, ["-n", "ci", "./ci.sh"], env);
  const lines = (text: string) => text.split("\n").filter((l) => l !== "");
  return { code: r.code, stdout: lines(new TextDecoder().decode(r.stdout)), stderr: lines(r.stderr) };
}

const npmCalls = (s: Scratch) =>
  existsSync(s.env.NPM_LOG) ? readFileSync(s.env.NPM_LOG, "utf8").trim().split("\n") : [];
const byStream = (lines: string[], stream: string) => lines.filter((l) => l.includes(`] ${stream} | `));

test("the output is the README's, line for line, and a second run skips unit and bundle", async () => {
  const s = project();
  try {
    const first = await ci(s);
    expect(first.stderr.filter((l) => !l.includes("] stderr | "))).toEqual([]); // no runner messages
    // Parallel tasks' lines may come in either order; each stream holds exactly the README's.
    expect(first.stdout.toSorted()).toEqual(byStream(SHOWN, "stdout").toSorted());
    expect(first.stderr).toEqual(byStream(SHOWN, "stderr"));
    // bundle starts once both parallel tasks have ended.
    expect(first.stdout.at(-1)).toBe(byStream(SHOWN, "stdout").at(-1));
    expect(first.code).toBe(0);

    const second = await ci(s);
    expect(second.code).toBe(0);
    expect([...second.stdout, ...second.stderr].filter((l) => /\[(unit|bundle)\]/.test(l))).toEqual([]);
    expect(npmCalls(s).filter((c) => c !== "run --silent lint")).toEqual(["run --silent test", "run --silent bundle"]);
  } finally {
    s.cleanup();
  }
});

test.each([
  ["lint", { LINT_EXIT: "1" }],
  ["unit", { TEST_EXIT: "1" }],
])("when %s fails, the build fails and bundle does not run", async (_, env) => {
  const s = project();
  try {
    const r = await ci(s, env);
    expect(r.code).toBe(1);
    expect(npmCalls(s).toSorted()).toEqual(["run --silent lint", "run --silent test"]);
    expect(r.stderr).toContain("[lint] stderr | src/x.ts: warning ...");
    expect(r.stdout).toContain("[unit] stdout | 120 pass");
    expect([...r.stdout, ...r.stderr].filter((l) => l.includes("[bundle]"))).toEqual([]);
  } finally {
    s.cleanup();
  }
});
