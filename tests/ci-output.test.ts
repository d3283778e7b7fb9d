// TASKRUNNER_OUTPUT=github and the build summary, run through the compiled
// binary as a GitHub Actions step would run it (GITHUB_ACTIONS=true,
// GITHUB_STEP_SUMMARY set): what the log shows, what the runner would take as
// workflow commands (read the way actions/runner reads them), and the job
// summary. Durations and stop-commands tokens vary and are normalised.
import { test, expect, beforeAll } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { inputRepo, runToEnd, type Scratch } from "./helpers/run";
import { sh } from "./fakes/git-repo";

beforeAll(ensureBinary, 120_000);

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

function githubEnv(s: Scratch): Record<string, string> {
  sh(s.dir, "mkdir -p remote");
  return {
    TASKRUNNER_OUTPUT: "github",
    GITHUB_ACTIONS: "true",
    GITHUB_STEP_SUMMARY: join(s.dir, "step-summary.md"),
    TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote"),
    TASKRUNNER_SAVE_REMOTE_CACHE: "1",
  };
}

/** Durations and tokens, which differ from run to run. */
function normalise(out: string): string {
  return out
    .replace(/taskrunner-[0-9a-f]{32}/g, "TOKEN")
    .replace(/ in \d+(\.\d+)? (ms|s)\b/g, " in T")
    .replace(/since \d\d:\d\d:\d\d/g, "since HH:MM:SS");
}

/**
 * The commands the Actions runner would act on in this output, in order, read
 * as actions/runner does: lines split by ReadLine ("\n", "\r\n" or a lone
 * "\r"); `::name props::data` after leading whitespace (TryParseV2) or
 * `##[name props]data` anywhere (TryParse); nothing but the resume token while
 * `::stop-commands::TOKEN` holds (ActionCommandManager.TryProcessCommand).
 */
const REGISTERED = [
  "add-mask",
  "add-matcher",
  "add-path",
  "debug",
  "echo",
  "endgroup",
  "error",
  "group",
  "notice",
  "remove-matcher",
  "save-state",
  "set-env",
  "set-output",
  "warning",
  "stop-commands",
];
function runnerCommands(out: string): { name: string; data: string }[] {
  const commands: { name: string; data: string }[] = [];
  let stopToken: string | null = null;
  for (const line of out.split(/\r\n|\r|\n/)) {
    let parsed: { name: string; data: string } | null = null;
    const trimmed = line.trimStart();
    const v2 = trimmed.startsWith("::") ? trimmed.indexOf("::", 2) : -1;
    const known = (name: string) => REGISTERED.includes(name.toLowerCase()) || name === stopToken;
    if (v2 > 0 && known(trimmed.slice(2, v2).split(" ")[0]))
      parsed = { name: trimmed.slice(2, v2).split(" ")[0], data: trimmed.slice(v2 + 2) };
    const v1 = line.indexOf("##[");
    const close = v1 >= 0 ? line.indexOf("]", v1) : -1;
    if (!parsed && close > 0 && known(line.slice(v1 + 3, close).split(" ")[0]))
      parsed = { name: line.slice(v1 + 3, close).split(" ")[0], data: line.slice(close + 1) };
    if (!parsed) continue;
    if (stopToken !== null) {
      if (parsed.name === stopToken) stopToken = null;
      continue;
    }
    if (parsed.name === "stop-commands") stopToken = parsed.data;
    else commands.push(parsed);
  }
  return commands;
}

const ONE_BUILD = `
taskrunner -n ok bash -c 'echo built'
taskrunner -n skip bash -c 'snapshot input.txt; echo never shown'
taskrunner -n rest bash -c 'snapshot input.txt -o out; mkdir -p out; echo made > out/file; echo restored tasks do not run this'
taskrunner -n bad bash -c 'echo "::error::x"; echo "  ::set-env name=x::y"; printf "r\\r::set-env name=z::w\\n"; echo "z ##[set-env name=q]v"; echo oops >&2; exit 3'
echo top done
`;

test("github mode: a group per task, a failure outside groups with its annotation, task lines never commands, the job summary", async () => {
  const s = inputRepo("gh-output");
  try {
    const env = githubEnv(s);
    // Before: rest's archive is in the store (with the run time it took), skip's hash is saved.
    const first = await runToEnd(
      s,
      [
        "-n",
        "prepare",
        "bash",
        "-c",
        "taskrunner -n skip bash -c 'snapshot input.txt'; taskrunner -n rest bash -c 'snapshot input.txt -o out; mkdir -p out; sleep 1; echo made > out/file'",
      ],
      {
        TASKRUNNER_REMOTE_CACHE_DIR: env.TASKRUNNER_REMOTE_CACHE_DIR,
        TASKRUNNER_SAVE_REMOTE_CACHE: "1",
      },
    );
    expect(first.code).toBe(0);
    // rest is restored from the store: as on another machine, no hash and no outputs here.
    sh(s.work, `rm -r out "${join(s.dir, "state/hash/rest.hash")}"`);

    const r = await runToEnd(s, ["-n", "top", "bash", "-c", ONE_BUILD], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const out = text(r.stdout);
    expect(normalise(out)).toBe(
      [
        "::group::ok: ran in T",
        "[ok] stdout | built",
        "::endgroup::",
        "::group::rest: restored from cache in T",
        "::endgroup::",
        "::stop-commands::TOKEN",
        "[bad] stdout | ::error::x",
        "[bad] stdout |   ::set-env name=x::y",
        "[bad] stdout | r\r::set-env name=z::w",
        "[bad] stdout | z ##[set-env name=q]v",
        "[bad] stderr | oops",
        "::TOKEN::",
        "::error title=taskrunner%3A bad failed::Task bad failed, exit code: 3",
        "::group::top: ran in T",
        "[top] stdout | top done",
        "::endgroup::",
        "",
      ].join("\n"),
    );
    // What the runner acts on: our groups and our one annotation, nothing the task printed.
    expect(runnerCommands(out)).toEqual([
      { name: "group", data: expect.stringMatching(/^ok: ran in /) },
      { name: "endgroup", data: "" },
      { name: "group", data: expect.stringMatching(/^rest: restored from cache in /) },
      { name: "endgroup", data: "" },
      { name: "error", data: "Task bad failed, exit code: 3" },
      { name: "group", data: expect.stringMatching(/^top: ran in /) },
      { name: "endgroup", data: "" },
    ]);
    // Without the shield, the same lines would have been commands: the check above can fail.
    expect(runnerCommands(out.replace(/::stop-commands::\S+\n/, "")).map((c) => c.name)).toContain("set-env");

    const summary = readFileSync(env.GITHUB_STEP_SUMMARY, "utf8");
    const rows = summary.split("\n").filter((l) => l.startsWith("| `"));
    expect(rows.map((l) => l.split(" | ").slice(0, 2).join(" | "))).toEqual([
      "| `top` | ✅ ran",
      "| `ok` | ✅ ran",
      "| `skip` | ⏭️ skipped",
      "| `rest` | ♻️ restored",
      "| `bad` | ❌ failed (exit code 3)",
    ]);
    const rest = rows[3].split(" | ");
    expect(rest[3]).toBe("exact hit");
    expect(rest[4]).toMatch(/^\d+ B$/); // bytes down
    // The run that made the archive took >= 1 s, and the archive says so.
    expect(rest[6]).toMatch(/^\d\.\d\d s \|$/);
    expect(Number(rest[6].split(" ")[0])).toBeGreaterThanOrEqual(1);
    expect(summary).toMatch(
      /\*\*1 restored, \d\.\d\d s saved\*\* · 4 tasks: 1 ran, 1 skipped, 1 restored, 1 failed · wall time /,
    );
    const gantt = summary.slice(summary.indexOf("```mermaid"));
    expect(gantt.split("\n").slice(0, 6)).toEqual([
      "```mermaid",
      "gantt",
      "    title Build timeline",
      "    dateFormat x",
      "    axisFormat %S.%L s",
      "    section Tasks",
    ]);
    for (const [job, tag] of [
      ["top (ran) :", "t0"],
      ["skip (skipped) :done, ", "t2"],
      ["rest (restored-exact) :active, ", "t3"],
      ["bad (failed) :crit, ", "t4"],
    ]) {
      expect(gantt).toMatch(new RegExp(`\\n    ${job.replace(/[()]/g, "\\$&")}${tag}, \\d+, \\d+\\n`));
    }
    // The same data as JSON in the build's directory.
    const builds = readdirSync(join(s.dir, "state", "builds")).sort();
    const json = JSON.parse(readFileSync(join(s.dir, "state", "builds", builds[1], "summary.json"), "utf8"));
    expect(json.tasks.map((t: { job: string; outcome: string }) => `${t.job} ${t.outcome}`)).toEqual([
      "top ran",
      "ok ran",
      "skip skipped",
      "rest restored-exact",
      "bad failed",
    ]);
    expect(json.restored).toBe(1);
    expect(json.savedMs).toBeGreaterThanOrEqual(1000);
  } finally {
    s.cleanup();
  }
}, 60_000);

const NO_ZSTD = Bun.which("zstd") ? "" : " (skipped: GNU tar --zstd needs the zstd CLI; apt-get install zstd)";

test.skipIf(NO_ZSTD !== "")(
  `an archive carrying its run time restores with GNU tar --zstd (the old tool's way) unchanged${NO_ZSTD}`,
  async () => {
    const s = inputRepo("gh-archive");
    try {
      const env = { TASKRUNNER_REMOTE_CACHE_DIR: join(s.dir, "remote"), TASKRUNNER_SAVE_REMOTE_CACHE: "1" };
      sh(s.dir, "mkdir remote");
      const r = await runToEnd(
        s,
        ["-n", "rest", "bash", "-c", "snapshot input.txt -o out; mkdir -p out; echo made > out/file"],
        env,
      );
      expect(r.code).toBe(0);
      const archive = join(
        s.dir,
        "remote",
        "taskrunner",
        "bundles",
        `rest-6b36308659163b577fd1c832107dc46ca3aa659b.tar.zst`,
      );
      expect(existsSync(archive)).toBe(true);
      sh(s.dir, "mkdir old-tool");
      const tar = Bun.spawnSync(["tar", "-x", "--zstd", "-f", archive, "-C", join(s.dir, "old-tool")]);
      expect({ code: tar.exitCode, stderr: tar.stderr.toString() }).toEqual({ code: 0, stderr: "" });
      expect(readFileSync(join(s.dir, "old-tool", "out", "file"), "utf8")).toBe("made\n");
      expect(sh(s.dir, `tar -t --zstd -f "${archive}"`)).toBe("out/\nout/file\n");
    } finally {
      s.cleanup();
    }
  },
  60_000,
);

test("github mode: a build with nothing to do prints nothing; a long-running task says it runs", async () => {
  const s = inputRepo("gh-quiet");
  try {
    const env = githubEnv(s);
    const build =
      "taskrunner -n a bash -c 'snapshot input.txt; echo a ran'; taskrunner -n b bash -c 'snapshot input.txt; echo b ran'";
    expect((await runToEnd(s, ["-n", "top", "bash", "-c", build], env)).code).toBe(0);
    const again = await runToEnd(s, ["-n", "top", "bash", "-c", build], env);
    expect({ code: again.code, stdout: text(again.stdout), stderr: again.stderr }).toEqual({
      code: 0,
      stdout: "",
      stderr: "",
    });

    const long = await runToEnd(s, ["-n", "server", "bash", "-c", "snapshot --long-running; echo up"], env);
    expect(normalise(text(long.stdout))).toBe(
      [
        "[server] info | running since HH:MM:SS; its output is shown when it ends",
        "::group::server: ran in T",
        "[server] stdout | up",
        "::endgroup::",
        "",
      ].join("\n"),
    );
  } finally {
    s.cleanup();
  }
}, 60_000);

test("github mode outside GitHub Actions: one warn line, then the plain output", async () => {
  const s = inputRepo("gh-outside");
  try {
    const r = await runToEnd(
      s,
      ["-n", "top", "bash", "-c", "taskrunner -n a echo hi; taskrunner -n b bash -c 'echo no >&2; exit 2'; true"],
      { TASKRUNNER_OUTPUT: "github" },
    );
    expect(r.code).toBe(0);
    expect(text(r.stdout)).toBe("[a] stdout | hi\n");
    expect(r.stderr).toBe(
      '[top] warn | TASKRUNNER_OUTPUT=github is for GitHub Actions steps, and GITHUB_ACTIONS is not "true" here: plain output\n[b] stderr | no\n',
    );
  } finally {
    s.cleanup();
  }
}, 60_000);

test("a bad TASKRUNNER_OUTPUT is one clear line", async () => {
  const s = inputRepo("gh-bad");
  try {
    const r = await runToEnd(s, ["-n", "top", "true"], { TASKRUNNER_OUTPUT: "fancy" });
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 2,
      stderr: 'taskrunner: TASKRUNNER_OUTPUT="fancy" is not valid: expected plain, github, progress\n',
    });
  } finally {
    s.cleanup();
  }
});
