// Commit statuses against the fake GitHub API: the token is bought once per
// build and shared through the state directory, refreshed near its expiry and
// after a 401, and the status bodies are what GitHub (and the old tool's
// golden files) expect. Faults are in github-faults.test.ts.
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { Env } from "../../src/config";
import {
  CACHE_FILE,
  openCommitStatus,
  prefetchToken,
  REFRESH_WARNING,
  type CommitStatusClient,
  type StatusRequest,
} from "../../src/github";
import { captureLog, githubEnv } from "../fakes/github";
import { githubTestBed } from "../helpers/github-bed";

const ROOT = resolve(import.meta.dir, "../..");
const SHA = "0123456789abcdef0123456789abcdef01234567";
const bed = githubTestBed("github");
const { keys, fake, scratch, allLines, config } = bed;
const FAST = { backoffMs: 10, timeoutMs: 5000 };

async function open(overrides: Env = {}, places = bed.places) {
  const captured = captureLog();
  const client = await openCommitStatus(config(overrides), places, captured.log, FAST);
  const done = () => allLines.push(...captured.warns, ...captured.debugs);
  return { client: client as CommitStatusClient, ...captured, done };
}

const status = (
  context: string,
  state: StatusRequest["state"] = "success",
  description: string | null = null,
): StatusRequest => ({
  context,
  description,
  state,
  target_url: null,
});

describe("one token per build", () => {
  test("many posts from one client: one token, bodies in order with explicit nulls", async () => {
    const { client, warns, done } = await open();
    await client.post(SHA, status("build", "pending", "not cached"));
    for (let i = 0; i < 8; i++) await client.post(SHA, status(`t${i}`));
    await client.post(SHA, { context: "build", description: null, state: "failure", target_url: "https://logs/x.txt" });
    done();
    expect(warns).toEqual([]);
    expect(fake.tokenRequests()).toBe(1);
    expect(fake.output[0]).toBe("Requested access token for installation 123");
    expect(fake.output[1]).toBe(
      'Updated commit status for fakeowner/fakerepo to {"context":"build","description":"not cached","state":"pending","target_url":null}',
    );
    expect(fake.output.at(-1)).toBe(
      'Updated commit status for fakeowner/fakerepo to {"context":"build","description":null,"state":"failure","target_url":"https://logs/x.txt"}',
    );
    expect(fake.statuses.map((s) => s.sha)).toEqual(Array(10).fill(SHA));
  });

  test("two clients sharing a state directory, posting at the same time", async () => {
    const a = await open();
    const b = await open();
    await Promise.all(
      [0, 1, 2, 3, 4].flatMap((i) => [a.client.post(SHA, status(`a${i}`)), b.client.post(SHA, status(`b${i}`))]),
    );
    a.done();
    b.done();
    expect(fake.tokenRequests()).toBe(1);
    expect(fake.statuses).toHaveLength(10);
    expect([...a.warns, ...b.warns]).toEqual([]);
  });

  test("real concurrent processes read the cache under the lock: one token", async () => {
    const child = `
      import { openCommitStatus } from ${JSON.stringify(`${ROOT}/src/github/index.ts`)};
      import { loadConfig } from ${JSON.stringify(`${ROOT}/src/config.ts`)};
      const log = { warn: (m) => console.error("warn " + m), debug: () => {} };
      const places = { stateDir: process.env.STATE_DIR, buildDir: process.env.STATE_DIR + "/builds/b" };
      const client = await openCommitStatus(loadConfig(process.env, process.cwd()), places, log);
      for (let i = 0; i < 3; i++) {
        await client.post(process.env.SHA, { context: process.env.CTX + "-" + i, description: null, state: "success", target_url: null });
      }`;
    const procs = [0, 1, 2, 3, 4, 5].map((n) =>
      Bun.spawn([process.execPath, "-e", child], {
        cwd: scratch,
        env: { ...githubEnv(fake, keys), PATH: process.env.PATH ?? "", STATE_DIR: bed.stateDir, SHA, CTX: `p${n}` },
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const results = await Promise.all(
      procs.map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })),
    );
    allLines.push(...results.map((r) => r.err));
    expect(results).toEqual(Array(6).fill({ code: 0, err: "" }));
    expect(fake.tokenRequests()).toBe(1);
    expect(fake.statuses).toHaveLength(18);
  });

  test("prefetchToken fills the cache; every later client uses it", async () => {
    const captured = captureLog();
    await prefetchToken(config(), bed.places, captured.log, FAST);
    expect(captured.warns).toEqual([]);
    expect(fake.tokenRequests()).toBe(1);
    for (const n of [1, 2, 3]) {
      const { client, done } = await open();
      await client.post(SHA, status(`task${n}`));
      expect(await client.hasStatus(SHA, `task${n}`)).toBe(true);
      done();
    }
    expect(fake.tokenRequests()).toBe(1);
    allLines.push(...captured.debugs);
  });

  test("cache file: mode 0600, written whole (no temp files left), names its installation", async () => {
    const { client, done } = await open();
    await client.post(SHA, status("t"));
    done();
    const path = join(bed.stateDir, CACHE_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(existsSync(`${path}.lock`)).toBe(true);
    expect(readdirSync(bed.stateDir).sort()).toEqual([CACHE_FILE, `${CACHE_FILE}.lock`]);
    const cached = JSON.parse(readFileSync(path, "utf8"));
    expect(cached.token).toStartWith("ghs_");
    expect(Date.parse(cached.expiresAt)).toBeGreaterThan(Date.now());
    expect({ apiUrl: cached.apiUrl, appId: cached.appId, installationId: cached.installationId }).toEqual({
      apiUrl: fake.url,
      appId: fake.appId,
      installationId: fake.installationId,
    });
  });

  test("a cache for another installation, or an unreadable one, is replaced", async () => {
    const path = join(bed.stateDir, CACHE_FILE);
    const other = {
      token: "ghs_other",
      expiresAt: "2999-01-01T00:00:00Z",
      apiUrl: fake.url,
      appId: "1234",
      installationId: "999",
    };
    writeFileSync(path, JSON.stringify(other), { mode: 0o600 });
    const first = await open();
    await first.client.post(SHA, status("t"));
    first.done();
    expect(fake.tokenRequests()).toBe(1);
    writeFileSync(path, "{not json");
    const second = await open();
    await second.client.post(SHA, status("t"));
    second.done();
    expect(fake.tokenRequests()).toBe(2);
    expect(second.debugs.some((l) => l.includes("unreadable"))).toBe(true);
    expect([...first.warns, ...second.warns]).toEqual([]);
  });
});

describe("a token cache written by someone else", () => {
  const path = () => join(bed.stateDir, CACHE_FILE);

  /** A build that posts one status, having found `path` as `tamper` left it. */
  async function afterTampering(tamper: () => void) {
    const first = await open();
    await first.client.post(SHA, status("t"));
    first.done();
    expect(fake.tokenRequests()).toBe(1);
    tamper();
    const second = await open();
    await second.client.post(SHA, status("u"));
    second.done();
    expect(second.warns).toEqual([]);
    expect(fake.statuses).toHaveLength(2);
    return second.debugs;
  }

  test("readable by others (0644): not used; a new token, the file rewritten 0600, a debug line", async () => {
    const debugs = await afterTampering(() => chmodSync(path(), 0o644));
    expect(fake.tokenRequests()).toBe(2);
    expect(debugs).toContain(
      `${path()} is not ours alone (owner uid ${process.getuid!()}, mode 0644); not using its token, fetching a new one`,
    );
    expect(statSync(path()).mode & 0o777).toBe(0o600);
  });

  test.skipIf(process.getuid?.() !== 0)(
    "owned by another user: not used, replaced by ours (needs root to chown)",
    async () => {
      const debugs = await afterTampering(() => chownSync(path(), 65534, 65534));
      expect(fake.tokenRequests()).toBe(2);
      expect(debugs).toContain(
        `${path()} is not ours alone (owner uid 65534, mode 0600); not using its token, fetching a new one`,
      );
      expect(statSync(path()).uid).toBe(process.getuid!());
    },
  );

  test("a symbolic link in its place is not followed, nor written through", async () => {
    const elsewhere = join(bed.stateDir, "elsewhere.json");
    const debugs = await afterTampering(() => {
      renameSync(path(), elsewhere);
      symlinkSync(elsewhere, path());
    });
    expect(fake.tokenRequests()).toBe(2);
    expect(debugs.some((l) => l.startsWith(`${path()} cannot be opened`))).toBe(true);
    expect(lstatSync(path()).isSymbolicLink()).toBe(false);
    expect(JSON.parse(readFileSync(elsewhere, "utf8")).token).not.toBe(JSON.parse(readFileSync(path(), "utf8")).token);
  });
});

describe("token refresh", () => {
  test("a token expiring within the threshold is replaced before use", async () => {
    // expires_at is reported in whole seconds (as GitHub does), so the client sees 2-3 s left of a 3 s token.
    fake.tokenLifetimeSeconds = 3;
    const { client, warns, done } = await open({ TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS: "1" });
    await client.post(SHA, status("t", "pending"));
    await client.post(SHA, status("t", "pending")); // still over 1 s left: reused
    expect(fake.tokenRequests()).toBe(1);
    await Bun.sleep(2100); // now under 1 s left as the client sees it (the token itself is still valid)
    await client.post(SHA, status("t"));
    done();
    expect(fake.tokenRequests()).toBe(2);
    expect(warns).toEqual([]);
    expect(fake.statuses).toHaveLength(3);
  });

  test("401 on a token whose expiry was reported late: one warn, one refresh, one retry", async () => {
    fake.tokenLifetimeSeconds = 2;
    fake.expiresAtOffsetSeconds = 3600; // the client believes it has an hour
    const a = await open();
    const b = await open(); // another process of the same build
    await a.client.post(SHA, status("t", "pending"));
    expect(await b.client.hasStatus(SHA, "t")).toBe(true); // b holds the same token now
    await Bun.sleep(2100);
    await a.client.post(SHA, status("t"));
    expect(a.warns).toEqual([REFRESH_WARNING]);
    expect(fake.tokenRequests()).toBe(2);
    expect(fake.requests.filter((r) => r.status === 401)).toHaveLength(1);
    // b's token died too; it finds a's replacement in the cache instead of buying a third.
    await b.client.post(SHA, status("u"));
    a.done();
    b.done();
    expect(b.warns).toEqual([REFRESH_WARNING]);
    expect(fake.tokenRequests()).toBe(2);
    expect(fake.statuses.map((s) => `${s.context}:${s.state}`)).toEqual(["t:pending", "t:success", "u:success"]);
  });

  test("the JWT: RS256, iss = app id, iat backdated ~60 s, exp within 10 minutes", async () => {
    const { client, done } = await open();
    await client.post(SHA, status("t"));
    done();
    const now = Date.now() / 1000;
    expect(fake.jwtClaims).toHaveLength(1);
    const { iss, iat, exp } = fake.jwtClaims[0];
    expect(String(iss)).toBe(fake.appId);
    expect(now - iat).toBeGreaterThanOrEqual(55);
    expect(now - iat).toBeLessThanOrEqual(65);
    expect(exp - now).toBeLessThanOrEqual(600);
    expect(exp - now).toBeGreaterThan(60);
  });
});

describe("a skewed clock", () => {
  test("GitHub's clock 5 minutes behind ours: the JWT is refused once, then signed with GitHub's time; no warn", async () => {
    fake.clockOffsetSeconds = -300;
    const { client, warns, done } = await open();
    await client.post(SHA, status("t"));
    done();
    expect(warns).toEqual([]);
    expect(fake.requests.filter((r) => r.path.endsWith("/access_tokens")).map((r) => r.status)).toEqual([401, 201]);
    expect(fake.statuses).toHaveLength(1);
  });
});

describe("configuration forms", () => {
  test("keys with | for newlines, PKCS#1 and PKCS#8", async () => {
    for (const pem of [keys.privateKeyPkcs1, keys.privateKey]) {
      const dir = mkdtempSync(join(scratch, "key-"));
      const { client, warns, done } = await open(
        { GITHUB_APP_PRIVATE_KEY: pem.trim().replaceAll("\n", "|") },
        { stateDir: dir, buildDir: dir },
      );
      await client.post(SHA, status("t"));
      done();
      expect(warns).toEqual([]);
    }
    expect(fake.statuses).toHaveLength(2);
  });

  test("GITHUB_API_URL with a path, as GitHub Enterprise Server's (/api/v3): every request goes under it", async () => {
    fake.pathPrefix = "/api/v3";
    const { client, warns, done } = await open({ GITHUB_API_URL: `${fake.url}/api/v3` });
    await client.post(SHA, status("t"));
    expect(await client.hasStatus(SHA, "t")).toBe(true);
    done();
    expect(warns).toEqual([]);
    expect(fake.requests.map((r) => `${r.method} ${r.status}`)).toEqual(["POST 201", "POST 201", "GET 200"]);
  });

  test("GITHUB_REPOSITORY as owner/repo, or a bare name with GITHUB_REPOSITORY_OWNER", async () => {
    const forms: [Env, string][] = [
      [{ GITHUB_REPOSITORY: "acme/widgets", GITHUB_REPOSITORY_OWNER: undefined }, "acme/widgets"],
      [{ GITHUB_REPOSITORY: "acme/widgets", GITHUB_REPOSITORY_OWNER: "acme" }, "acme/widgets"],
      [{ GITHUB_REPOSITORY: "gadgets", GITHUB_REPOSITORY_OWNER: "acme" }, "acme/gadgets"],
    ];
    for (const [env] of forms) {
      const { client, warns, done } = await open(env);
      await client.post(SHA, status("t"));
      done();
      expect(warns).toEqual([]);
    }
    expect(fake.statuses.map((s) => `${s.owner}/${s.repo}`)).toEqual(forms.map(([, want]) => want));
  });
});

describe("hasStatus", () => {
  test("true when the context has a status on the commit, false otherwise", async () => {
    const { client, warns, done } = await open();
    expect(await client.hasStatus(SHA, "build")).toBe(false);
    await client.post(SHA, status("build", "failure"));
    expect(await client.hasStatus(SHA, "build")).toBe(true);
    expect(await client.hasStatus(SHA, "other")).toBe(false);
    expect(await client.hasStatus(SHA.replace("0", "f"), "build")).toBe(false);
    done();
    expect(warns).toEqual([]);
  });

  test("follows pagination to an old status", async () => {
    fake.addStatus("fakeowner", "fakerepo", SHA, "oldest");
    for (let i = 0; i < 250; i++) fake.addStatus("fakeowner", "fakerepo", SHA, `ctx${i}`);
    const { client, done } = await open();
    expect(await client.hasStatus(SHA, "oldest")).toBe(true);
    expect(fake.requests.filter((r) => r.path.endsWith("/statuses") && r.method === "GET")).toHaveLength(3);
    expect(await client.hasStatus(SHA, "missing")).toBe(false);
    done();
  });
});
