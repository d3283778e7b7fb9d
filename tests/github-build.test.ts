// A slow or dead GitHub API against the compiled binary: statuses are a report,
// never a reason to wait. A build of three no-op tasks with --commit-status
// ends within 15 s whether the API answers after 30 s or not at all, and says
// so in one warn line (the unit tests in tests/unit/github-faults.test.ts
// cover each fault; this is what a user's build sees).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureBinary } from "./helpers/binary";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { endedText, runToEnd, scratch, taskrunner, waitFor } from "./helpers/run";
import { startFaultyServer } from "./fakes/faulty-http";
import { generateTestKeys, githubEnv, startFakeGithub, type Fault } from "./fakes/github";

beforeAll(ensureBinary, 120_000);

const keys = generateTestKeys();
const fakes: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const f of fakes) await f.stop();
});

const LATE = 30_000;
const TARGET_MS = 15_000;
const OFF = "commit statuses are off for the rest of this build";

// The toplevel and two nested tasks, each reporting its status.
const BUILD = `git init -q && git commit -q --allow-empty -m initial
snapshot -n --commit-status
taskrunner -n first bash -c 'snapshot -n --commit-status; echo first done'
taskrunner -n second bash -c 'snapshot -n --commit-status; echo second done'
echo top done`;

/** Runs BUILD with the fake API misbehaving as `faults` say; the output with the API's address as <api>. */
async function build(faults: Fault[], env: Record<string, string> = {}, apiUrl?: string) {
  const fake = startFakeGithub({ publicKey: keys.publicKey });
  fakes.push(fake);
  for (const f of faults) fake.fail(f);
  const s = scratch("github-build");
  try {
    const started = performance.now();
    const r = await runToEnd(s, ["-n", "top", "bash", "-e", "-c", BUILD], {
      ...githubEnv(fake, keys),
      TASKRUNNER_DISABLE_TIMESTAMPS: "1",
      ...(apiUrl ? { GITHUB_API_URL: apiUrl } : {}),
      ...env,
    });
    const elapsedMs = performance.now() - started;
    const api = apiUrl ?? fake.url;
    const stdout = new TextDecoder().decode(r.stdout);
    return { code: r.code, stdout, stderr: r.stderr.replaceAll(api, "<api>"), elapsedMs, fake };
  } finally {
    s.cleanup();
  }
}

const TASKS_RAN = "[first] stdout | first done\n[second] stdout | second done\n[top] stdout | top done\n";

for (const [variant, env] of [
  ["", {}],
  [" (nested processes)", { TASKRUNNER_NESTED_PROCESSES: "1" }],
] as const) {
  test.concurrent(`an API answering after 30 s: one timeout at the toplevel's token fetch, one warn, done within 15 s${variant}`, async () => {
    const r = await build([{ route: "any", delayMs: LATE }], env);
    expect(r.stderr).toBe(
      `[top] warn | Could not fetch a GitHub installation token: GitHub API at <api> did not answer within 10 s; ${OFF}\n`,
    );
    expect(r.stdout).toBe(TASKS_RAN);
    expect(r.code).toBe(0);
    expect(r.elapsedMs).toBeLessThan(TARGET_MS);
    expect(r.fake.requests).toHaveLength(1); // the token request; nobody asked again
  });
}

test.concurrent("statuses answered after 30 s (the token comes at once): the first status times out, one warn, done within 15 s", async () => {
  const r = await build([
    { route: "create_status", delayMs: LATE },
    { route: "list_statuses", delayMs: LATE },
  ]);
  expect(r.stderr).toBe(
    `[top] warn | Commit status pending for top not posted: GitHub API at <api> did not answer within 10 s; ${OFF}\n`,
  );
  expect(r.stdout).toBe(TASKS_RAN);
  expect(r.code).toBe(0);
  expect(r.elapsedMs).toBeLessThan(TARGET_MS);
  expect(r.fake.tokenRequests()).toBe(1);
  expect(r.fake.requests.filter((q) => q.path.includes("/statuses"))).toHaveLength(1);
});

test.concurrent("an API that is down (connection refused): one warn, done within 15 s", async () => {
  // A port nobody listens on: a server stopped at once leaves its port closed.
  const gone = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const url = `http://127.0.0.1:${gone.port}`;
  await gone.stop(true);
  const r = await build([], {}, url);
  expect(r.stderr).toMatch(
    new RegExp(
      `^\\[top\\] warn \\| Could not fetch a GitHub installation token: GitHub API at <api> is unreachable \\(.*\\); gave up after 3 attempts; ${OFF}\\n$`,
    ),
  );
  expect(r.stdout).toBe(TASKS_RAN);
  expect(r.code).toBe(0);
  expect(r.elapsedMs).toBeLessThan(TARGET_MS);
});

// A signal once the task's result is recorded — during the final commit status
// or the log upload — stops the request in flight, not only what follows it:
// the process ends at once, the result stands.
const PROMPTLY_MS = 3_000;

test.concurrent("SIGTERM while the final commit status hangs: the process ends within a couple of seconds, the task's result recorded", async () => {
  const fake = startFakeGithub({ publicKey: keys.publicKey });
  fakes.push(fake);
  fake.fail({ route: "create_status", hang: true });
  const s = scratch("github-hang");
  try {
    // A failed task reports its failure: the only status of this build.
    const p = taskrunner(
      s,
      ["-n", "job", "bash", "-c", "git init -q && git commit -q --allow-empty -m initial; echo failing; exit 3"],
      githubEnv(fake, keys),
    );
    await waitFor(() => fake.requests.some((q) => q.method === "POST" && q.path.includes("/statuses/")), 30_000);
    const signalled = performance.now();
    p.kill("SIGTERM");
    const r = await endedText(p);
    expect(performance.now() - signalled).toBeLessThan(PROMPTLY_MS);
    expect(r.stdout).toBe("[job] stdout | failing\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(143);
    expect(
      readFileSync(
        join(s.dir, "state", "builds", readdirSync(join(s.dir, "state", "builds"))[0], "results", "job"),
        "utf8",
      ).trim(),
    ).toBe("3");
  } finally {
    s.cleanup();
  }
});

test.concurrent("SIGTERM while the log upload hangs (a store that never answers): the process ends within a couple of seconds, the task's result recorded", async () => {
  const silent = await startFaultyServer({ kind: "silent" });
  fakes.push(silent);
  const s = scratch("log-hang");
  try {
    const p = taskrunner(s, ["-n", "job", "bash", "-c", "echo done"], {
      TASKRUNNER_UPLOAD_LOGS: "1",
      TASKRUNNER_REMOTE_CACHE_BUCKET: "bucket",
      TASKRUNNER_S3_ENDPOINT: silent.endpoint,
      TASKRUNNER_AWS_ACCESS_KEY: "key",
      TASKRUNNER_AWS_SECRET_KEY: "secret",
    });
    await waitFor(() => silent.requests > 0, 30_000);
    const signalled = performance.now();
    p.kill("SIGTERM");
    const r = await endedText(p);
    expect(performance.now() - signalled).toBeLessThan(PROMPTLY_MS);
    expect({ stdout: r.stdout, stderr: r.stderr, code: r.code }).toEqual({
      stdout: "[job] stdout | done\n",
      stderr: "",
      code: 143,
    });
    expect(
      readFileSync(
        join(s.dir, "state", "builds", readdirSync(join(s.dir, "state", "builds"))[0], "results", "job"),
        "utf8",
      ).trim(),
    ).toBe("0");
  } finally {
    s.cleanup();
  }
});
