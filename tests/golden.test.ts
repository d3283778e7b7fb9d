// Golden cases: tests/golden/<case>.sh is a script run as the task of
// `taskrunner -n toplevel bash -e -c <script>` in a fresh directory;
// tests/golden/<case>.out is what the user sees (stdout and stderr interleaved
// on one pipe), plus any files the case names, plus the exit code.
// UPDATE_GOLDEN=1 bun test tests/golden.test.ts rewrites the .out files for review.
import { test, expect, beforeAll } from "bun:test";
import { readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { runCase, parseDirectives } from "./helpers/golden";

const DIR = join(import.meta.dir, "golden");
const update = process.env.UPDATE_GOLDEN === "1";
const only = process.env.GOLDEN_CASE;

beforeAll(ensureBinary, 120_000);

for (const file of readdirSync(DIR).filter((f) => f.endsWith(".sh")).sort()) {
  const name = file.slice(0, -3);
  if (only && !name.includes(only)) continue;
  const script = readFileSync(join(DIR, file), "utf8");
  const directives = parseDirectives(script);
  test.concurrent(name, async () => {
    const actual = await runCase(name, script, directives);
    const outFile = join(DIR, `${name}.out`);
    if (update || !existsSync(outFile)) {
      writeFileSync(outFile, actual);
      if (!update) throw new Error(`${name}.out did not exist; wrote it — review and rerun`);
      return;
    }
    expect(actual).toBe(readFileSync(outFile, "utf8"));
  });
}
