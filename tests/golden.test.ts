// Golden cases: tests/golden/<case>.sh is a script run as the task of
// `taskrunner -n toplevel bash -e -c <script>` in a fresh directory;
// tests/golden/<case>.out is what the user sees (stdout and stderr interleaved
// on one pipe), plus any files the case names, plus the exit code.
// Directives are `#:` lines at the top of a case (`#: check output logs/x.log`,
// `#: env K=V`, `#: cache`, …; helpers/golden.ts parseDirectives): an unknown one fails.
// A `#: cache` case runs once per store — the file-system store and a real S3
// server (s3rver on 127.0.0.1) — against the same .out, or against
// <case>.s3.out where the S3 run says something different (store addresses).
// A case with nested tasks runs once more with TASKRUNNER_NESTED_PROCESSES=1:
// nested tasks served inside the toplevel (the default, src/toplevel/nested-server.ts) and
// nested taskrunner processes (the fallback) must look the same to the user.
// Every case also shows that TASKRUNNER_LOG_INFO=1 adds no `info |` line outside the documented
// set (helpers/golden.ts DOCUMENTED_INFO): checked on its own runs where the case sets it, and
// on one more run with it set where the case does not.
// UPDATE_GOLDEN=1 bun test tests/golden.test.ts rewrites the .out files for review.
import { test, expect, beforeAll, afterAll } from "bun:test";
import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { runCase, parseDirectives, undocumentedInfoLines, type Directives, type Store } from "./helpers/golden";
import { startFakeS3, type FakeS3 } from "./fakes/s3";

const DIR = join(import.meta.dir, "golden");
const update = process.env.UPDATE_GOLDEN === "1";
const only = process.env.GOLDEN_CASE;

const NESTED_PROCESSES = { TASKRUNNER_NESTED_PROCESSES: "1" };
const LOG_INFO = { TASKRUNNER_LOG_INFO: "1" };

let s3: Promise<FakeS3> | null = null;
const fakeS3 = () => (s3 ??= startFakeS3());

beforeAll(ensureBinary, 120_000);
afterAll(async () => {
  if (s3) await (await s3).stop();
});

function compare(name: string, actual: string, variant: "fs" | "s3" | null) {
  const main = join(DIR, `${name}.out`);
  const own = join(DIR, `${name}.s3.out`);
  if (update) {
    if (variant === "s3") {
      if (existsSync(main) && readFileSync(main, "utf8") === actual) rmSync(own, { force: true });
      else writeFileSync(own, actual);
    } else writeFileSync(main, actual);
    return;
  }
  const outFile = variant === "s3" && existsSync(own) ? own : main;
  if (!existsSync(outFile)) {
    writeFileSync(outFile, actual);
    throw new Error(`${outFile} did not exist; wrote it — review and rerun`);
  }
  expect(actual).toBe(readFileSync(outFile, "utf8"));
}

test("golden directives: `#:` lines at the top; an unknown one, or one below the script's start, fails its case", () => {
  expect(
    parseDirectives("# a comment\n#: check output logs/x.log\n#: env A=1 B=2\n#: no toplevel\necho hi\n"),
  ).toMatchObject({
    check: ["output", "logs/x.log"],
    env: { A: "1", B: "2" },
    noToplevel: true,
  });
  expect(() => parseDirectives("#: chek output\necho hi\n")).toThrow("unknown directive: #: chek output");
  expect(() => parseDirectives("#: github lifetme=5\n")).toThrow("unknown option of #: github: lifetme=5");
  expect(() => parseDirectives("echo hi\n#: quiet\n")).toThrow(
    "directive below the script's first line (line 2): #: quiet",
  );
  expect(() => parseDirectives("# A comment\n# sort\necho hi\n")).toThrow(
    "a directive without its prefix (line 2): # sort; write #: sort",
  );
});

for (const file of readdirSync(DIR)
  .filter((f) => f.endsWith(".sh"))
  .sort()) {
  const name = file.slice(0, -3);
  if (only && !name.includes(only)) continue;
  const script = readFileSync(join(DIR, file), "utf8");
  let directives: Directives;
  try {
    directives = parseDirectives(script);
  } catch (e) {
    test(name, () => {
      throw e;
    });
    continue;
  }
  const nested = /\btaskrunner\b/.test(script.replace(/^#.*$/gm, ""));
  // A plain case runs once (variant null); a `# cache` case once per store.
  const variants = directives.cache ?? [null];
  // A variable counts as set when the case's environment or its script sets it to 1.
  const sets = (env: Record<string, string>, variable: string) =>
    env[variable] === "1" || script.includes(`${variable}=1`);
  for (const variant of variants) {
    const output = async (extraEnv: Record<string, string>) => {
      let store: Store | null = null;
      if (variant === "fs") store = { kind: "fs" };
      else if (variant === "s3") {
        const server = await fakeS3();
        store = { kind: "s3", server, bucket: await server.newBucket() };
      }
      const actual = await runCase(script, directives, extraEnv, store);
      const env = { ...directives.env, ...extraEnv };
      if (sets(env, "TASKRUNNER_LOG_INFO")) expect(undocumentedInfoLines(actual, (v) => sets(env, v))).toEqual([]);
      return actual;
    };
    const run = async (extraEnv: Record<string, string>) => compare(name, await output(extraEnv), variant);
    const label = (...tags: string[]) => (tags.length ? `${name} [${tags.join(", ")}]` : name);
    const tags = variant ? [variant] : [];
    test.concurrent(label(...tags), () => run({}));
    // Once per case is enough for the other routes: with its first store.
    if (update || variant !== variants[0]) continue;
    if (nested) test.concurrent(label(...tags, "nested processes"), () => run(NESTED_PROCESSES));
    if (directives.env.TASKRUNNER_LOG_INFO !== "1")
      test.concurrent(label(...tags, "log info"), () => output(LOG_INFO).then(() => {}));
  }
}
