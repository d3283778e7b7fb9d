// Every way commit statuses can go wrong gives one warn line that names the
// problem, bounded retries, no hang, no exception, and never a credential.
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import type { Env } from "../../src/config";
import {
  OFF,
  openCommitStatus,
  prefetchToken,
  REFRESH_WARNING,
  type ClientOptions,
  type CommitStatusClient,
} from "../../src/github";
import { Secrets } from "../../src/github/redact";
import { captureLog, generateTestKeys, leakedSecrets, type Fault } from "../fakes/github";
import { githubTestBed } from "../helpers/github-bed";

const SHA = "89abcdef0123456789abcdef0123456789abcdef";
const otherKeys = generateTestKeys();
const bed = githubTestBed("github-faults", [otherKeys]);
const { keys, fake, allLines, config } = bed;
const FAST: ClientOptions = { backoffMs: 10, timeoutMs: 3000, retries: 2 };
const REDACTED_ONCE = "[REDACTED]";
const STATUS = { context: "build", description: null, state: "success", target_url: null } as const;

async function open(overrides: Env = {}, options: ClientOptions = FAST, places = bed.places) {
  const captured = captureLog();
  const client = await openCommitStatus(config(overrides), places, captured.log, options);
  const done = () => allLines.push(...captured.warns, ...captured.debugs);
  return { client, ...captured, done };
}

/** Posts once against a fault; returns the warn lines and how many calls reached the route. */
async function postWith(fault: Fault | null, options: ClientOptions = FAST, env: Env = {}, places = bed.places) {
  if (fault) fake.fail(fault);
  const { client, warns, done } = await open(env, options, places);
  await (client as CommitStatusClient).post(SHA, STATUS); // resolves: never throws
  done();
  return { warns, statusCalls: fake.requests.filter((r) => r.path.includes("/statuses/")).length };
}

describe("credentials and repository", () => {
  const cases: [string, Env][] = [
    ["GITHUB_APP_ID", { GITHUB_APP_ID: undefined }],
    ["GITHUB_INSTALLATION_ID", { GITHUB_INSTALLATION_ID: undefined }],
    ["GITHUB_APP_PRIVATE_KEY", { GITHUB_APP_PRIVATE_KEY: undefined }],
    ["GITHUB_REPOSITORY", { GITHUB_REPOSITORY: undefined }],
    ["GITHUB_REPOSITORY_OWNER", { GITHUB_REPOSITORY_OWNER: undefined }],
    ["GITHUB_INSTALLATION_ID", { GITHUB_INSTALLATION_ID: "abc" }],
    ["GITHUB_REPOSITORY", { GITHUB_REPOSITORY: "has space" }],
    ["GITHUB_APP_PRIVATE_KEY", { GITHUB_APP_PRIVATE_KEY: "not a key at all" }],
    [
      "GITHUB_APP_PRIVATE_KEY",
      {
        GITHUB_APP_PRIVATE_KEY:
          "-----BEGIN RSA PRIVATE KEY-----|bm90IGEga2V5IGF0IGFsbCBidXQgbG9uZyBlbm91Z2g=|-----END RSA PRIVATE KEY-----",
      },
    ],
    [
      "GITHUB_APP_PRIVATE_KEY",
      {
        GITHUB_APP_PRIVATE_KEY: generateKeyPairSync("ec", { namedCurve: "P-256" })
          .privateKey.export({ type: "pkcs8", format: "pem" })
          .toString(),
      },
    ],
  ];
  for (const [variable, env] of cases) {
    test(`${variable} ${JSON.stringify(Object.values(env)[0] ?? "unset").slice(0, 30)}: null and one warn naming it`, async () => {
      const { client, warns, done } = await open(env);
      done();
      expect(client).toBeNull();
      expect(warns).toHaveLength(1);
      expect(warns[0]).toContain(variable);
      expect(warns[0]).toContain("commit statuses will not be reported");
      expect(warns[0]).not.toContain("bm90IGEga2V5");
    });
  }

  test("prefetchToken leaves missing credentials to openCommitStatus (a debug line, no warn)", async () => {
    const captured = captureLog();
    await prefetchToken(config({ GITHUB_APP_ID: undefined }), bed.places, captured.log, FAST);
    expect(captured.warns).toEqual([]);
    expect(captured.debugs.join()).toContain("GITHUB_APP_ID");
    expect(fake.requests).toEqual([]);
  });

  test("a key GitHub does not know: one warn naming the key, no 401 retry dance", async () => {
    const { warns, statusCalls } = await postWith(null, FAST, { GITHUB_APP_PRIVATE_KEY: otherKeys.privateKeyPkcs1 });
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain("GITHUB_APP_PRIVATE_KEY");
    expect(warns[0]).toContain("401");
    expect(statusCalls).toBe(0);
  });

  test("a wrong app id or an unknown installation: one warn naming the variable", async () => {
    expect((await postWith(null, FAST, { GITHUB_APP_ID: "999" })).warns).toEqual([
      expect.stringContaining("GITHUB_APP_ID"),
    ]);
    const unknown = await postWith(null, FAST, { GITHUB_INSTALLATION_ID: "456" }, bed.anotherBuild());
    expect(unknown.warns).toEqual([expect.stringContaining("GITHUB_INSTALLATION_ID=456")]);
  });
});

describe("GitHub answers", () => {
  test("5xx: retried, then one warn", async () => {
    const { warns, statusCalls } = await postWith({ route: "create_status", status: 502 });
    expect(statusCalls).toBe(3);
    expect(warns).toEqual([
      expect.stringMatching(
        /^Commit status success for build not posted: GitHub API answered 502 .*gave up after 3 attempts$/,
      ),
    ]);
  });

  test("each request's retries pause as briefly as the first's (no count carried over)", async () => {
    fake.fail({ route: "create_status", status: 502 });
    const { client, done } = await open({}, { ...FAST, backoffMs: 100 });
    const took: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await (client as CommitStatusClient).post(SHA, STATUS);
      took.push(performance.now() - started);
    }
    done();
    // 100 ms, then 400 ms (plugin-retry's (n+1)² steps) each time; a carried-over count made it 1.6 s + 0.4 s, then 3.6 s + 0.4 s.
    for (const ms of took) expect(ms).toBeLessThan(1500);
  });

  test("a 5xx that passes: no warn", async () => {
    const { warns, statusCalls } = await postWith({ route: "create_status", status: 503, times: 1 });
    expect(statusCalls).toBe(2);
    expect(warns).toEqual([]);
    expect(fake.statuses).toHaveLength(1);
  });

  test("403 without rate-limit headers is a permission problem: one warn, no retry", async () => {
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 403,
      message: "Resource not accessible by integration",
    });
    expect(statusCalls).toBe(1);
    expect(warns).toEqual([expect.stringContaining('"Commit statuses: write" permission')]);
  });

  test("422: one warn with GitHub's message, no retry", async () => {
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 422,
      message: "No commit found for SHA",
    });
    expect(statusCalls).toBe(1);
    expect(warns).toEqual([expect.stringContaining("422 to POST /repos/fakeowner/fakerepo/statuses/")]);
    expect(warns[0]).toContain("No commit found for SHA");
  });

  test("a redirect (renamed repository) is reported, not followed", async () => {
    const headers = { Location: "http://example.invalid/elsewhere" };
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 301,
      headers,
      message: "Moved Permanently",
    });
    expect(statusCalls).toBe(1);
    expect(warns).toEqual([expect.stringContaining("answered 301 to POST /repos/fakeowner/fakerepo/statuses/")]);
  });

  test("429 is tried again", async () => {
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 429,
      headers: { "retry-after": "0" },
      times: 1,
    });
    expect(statusCalls).toBe(2);
    expect(warns).toEqual([]);
  });

  test("rate limited throughout: one warn", async () => {
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 429,
      headers: { "retry-after": "0" },
    });
    expect(statusCalls).toBe(3);
    expect(warns).toEqual([expect.stringContaining("rate limit exceeded")]);
  });

  test("403 primary rate limit resetting in an hour: one warn at once", async () => {
    const reset = String(Math.floor(Date.now() / 1000) + 3600);
    const headers = { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset };
    const { warns, statusCalls } = await postWith({
      route: "create_status",
      status: 403,
      headers,
      message: "API rate limit exceeded",
    });
    expect(statusCalls).toBe(1);
    expect(warns).toEqual([expect.stringMatching(/rate limit exceeded .*resets in 3[56]\d\d s/)]);
  });

  test("the token request failing: one warn about the installation token", async () => {
    const { warns, statusCalls } = await postWith({ route: "access_tokens", status: 500 });
    expect(statusCalls).toBe(0);
    expect(warns).toEqual([
      expect.stringContaining(
        "no GitHub installation token: GitHub API answered 500 to POST /app/installations/123/access_tokens",
      ),
    ]);
  });

  test("401 again after the refresh: the refresh warning, then one warn", async () => {
    const { warns, statusCalls } = await postWith({ route: "create_status", status: 401, message: "Bad credentials" });
    expect(statusCalls).toBe(2);
    expect(warns).toHaveLength(2);
    expect(warns[0]).toBe(REFRESH_WARNING);
    expect(warns[1]).toContain("even with a new token");
    expect(fake.tokenRequests()).toBe(2);
  });

  test("hasStatus on a fault: false and one warn", async () => {
    fake.fail({ route: "list_statuses", status: 500 });
    const { client, warns, done } = await open();
    expect(await (client as CommitStatusClient).hasStatus(SHA, "build")).toBe(false);
    done();
    expect(warns).toEqual([
      expect.stringContaining(`Could not read the commit statuses of ${SHA}, assuming none for build`),
    ]);
  });
});

describe("GitHub out of reach", () => {
  test("connection refused: one warn after bounded retries", async () => {
    const { warns } = await postWith(null, FAST, { GITHUB_API_URL: "http://127.0.0.1:1" });
    expect(warns).toEqual([expect.stringContaining("GitHub API at http://127.0.0.1:1 is unreachable")]);
  });

  test("an API that never answers: one timeout, one warn, statuses off for the build", async () => {
    const started = Date.now();
    const { warns, statusCalls } = await postWith(
      { route: "create_status", hang: true },
      { ...FAST, timeoutMs: 300, retries: 1 },
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(statusCalls).toBe(1);
    expect(warns).toEqual([
      expect.stringMatching(/did not answer within 0\.3 s; commit statuses are off for the rest of this build$/),
    ]);
  });

  test("prefetchToken against a hanging token endpoint: one warn, no hang", async () => {
    fake.fail({ route: "access_tokens", hang: true });
    const captured = captureLog();
    await prefetchToken(config(), bed.places, captured.log, { ...FAST, timeoutMs: 200, retries: 0 });
    allLines.push(...captured.warns, ...captured.debugs);
    expect(captured.warns).toEqual([
      expect.stringContaining("Could not fetch a GitHub installation token: GitHub API at"),
    ]);
  });
});

describe("the build's fault budget", () => {
  const statusCalls = () => fake.requests.filter((r) => r.path.includes("/statuses")).length;

  test("three faults switch statuses off for the build: the third says so, nobody calls GitHub again", async () => {
    fake.fail({ route: "create_status", status: 502 });
    const first = await open();
    for (let i = 0; i < 4; i++) await (first.client as CommitStatusClient).post(SHA, STATUS);
    first.done();
    expect(first.warns).toHaveLength(3);
    expect(first.warns.filter((w) => w.endsWith(`; ${OFF}`))).toEqual([first.warns[2]]);
    expect(statusCalls()).toBe(9); // three posts of three attempts; the fourth asked nobody
    // Another taskrunner of the same build: nothing asked, nothing said.
    const second = await open();
    await (second.client as CommitStatusClient).post(SHA, STATUS);
    expect(await (second.client as CommitStatusClient).hasStatus(SHA, "build")).toBe(false);
    second.done();
    expect(second.warns).toEqual([]);
    expect(second.debugs).toContain(`Commit status success for build not posted: ${OFF}`);
    expect(statusCalls()).toBe(9);
    // The next build tries again.
    fake.clearFaults();
    const next = await open({}, FAST, bed.anotherBuild());
    await (next.client as CommitStatusClient).post(SHA, STATUS);
    next.done();
    expect(next.warns).toEqual([]);
    expect(fake.statuses).toHaveLength(1);
  });

  test("one timeout switches statuses off at once, for every taskrunner of the build", async () => {
    fake.fail({ route: "create_status", delayMs: 2000 });
    const started = Date.now();
    const slow = await open({}, { ...FAST, timeoutMs: 300 });
    await (slow.client as CommitStatusClient).post(SHA, STATUS);
    await (slow.client as CommitStatusClient).post(SHA, STATUS);
    const other = await open({}, { ...FAST, timeoutMs: 300 });
    await (other.client as CommitStatusClient).post(SHA, STATUS);
    slow.done();
    other.done();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(slow.warns).toEqual([expect.stringMatching(new RegExp(`did not answer within 0\\.3 s; ${OFF}$`))]);
    expect(other.warns).toEqual([]);
    expect(statusCalls()).toBe(1);
  });

  test("a token that cannot be had: one warn at the toplevel's fetch, no more token requests in the build", async () => {
    fake.fail({ route: "access_tokens", status: 500 });
    const captured = captureLog();
    await prefetchToken(config(), bed.places, captured.log, FAST);
    allLines.push(...captured.warns, ...captured.debugs);
    expect(captured.warns).toEqual([
      expect.stringMatching(
        new RegExp(`^Could not fetch a GitHub installation token: GitHub API answered 500 .*; ${OFF}$`),
      ),
    ]);
    const requests = fake.requests.length; // one fetch: its three attempts
    expect(requests).toBe(3);
    for (const n of [1, 2, 3]) {
      const { client, warns, done } = await open();
      await (client as CommitStatusClient).post(SHA, { ...STATUS, context: `task${n}` });
      done();
      expect(warns).toEqual([]);
    }
    expect(fake.requests.length).toBe(requests);
  });
});

describe("no credential in a log line", () => {
  test("an error page echoing the Authorization header is scrubbed", async () => {
    const { warns } = await postWith({ route: "create_status", status: 422, echoAuthorization: true });
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain("Authorization: token [REDACTED]");
    expect(leakedSecrets(warns[0], fake, keys)).toEqual([]);
  });

  test("the token endpoint echoing the JWT is scrubbed", async () => {
    const { warns } = await postWith({ route: "access_tokens", status: 500, echoAuthorization: true });
    expect(warns[0]).toContain("[REDACTED]");
    expect(warns[0]).not.toMatch(/eyJ/);
    expect(leakedSecrets(warns[0], fake, keys)).toEqual([]);
  });

  test("an answer echoing the token cut short is scrubbed", async () => {
    const { warns } = await postWith({ route: "create_status", status: 422, echoAuthorization: "cut-short" });
    expect(warns).toEqual([expect.stringContaining("(request had a credential starting [REDACTED])")]);
    expect(leakedSecrets(warns[0], fake, keys)).toEqual([]);
  });

  test("the token endpoint echoing only the JWT's signature is scrubbed", async () => {
    const { warns } = await postWith({ route: "access_tokens", status: 401, echoAuthorization: "jwt-signature" });
    expect(warns).toEqual([expect.stringContaining("(signature [REDACTED] did not verify)")]);
    expect(leakedSecrets(warns[0], fake, keys)).toEqual([]);
  });

  test("Secrets.scrub: known secrets, key lines, JWTs, GitHub tokens, auth headers", () => {
    const s = new Secrets();
    s.add(keys.privateKey);
    const keyLine = keys.privateKey.split("\n")[3];
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    const text = [
      keys.privateKeyPkcs1,
      keyLine,
      jwt,
      "ghs_abcdefghijklmnopqrstuvwxyz012345",
      'token="abcdefghijklmnop1234"',
    ].join(" | ");
    const out = s.scrub(text);
    expect(out).not.toContain(keyLine);
    expect(out).not.toContain("MII");
    expect(out).not.toContain("eyJ");
    expect(out).not.toContain("ghs_");
    expect(out).not.toContain("abcdefghijklmnop1234");
    // Ordinary words survive, the key's armour lines among them.
    expect(s.scrub("TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS and tokenRefreshThresholdSeconds")).toBe(
      "TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS and tokenRefreshThresholdSeconds",
    );
    expect(s.scrub("is not a PEM private key (no -----BEGIN line)")).toBe(
      "is not a PEM private key (no -----BEGIN line)",
    );
  });

  test("Secrets.scrub: any piece of 8 characters or more of a known secret, wherever it is", () => {
    const s = new Secrets();
    const secret = "Zq4xW9mK2pL7vB3nR8tY";
    s.add(secret);
    expect(s.scrub(`a ${secret.slice(3, 11)} b`)).toBe("a [REDACTED] b");
    expect(s.scrub(`x${secret.slice(0, -3)}y and ${secret.slice(5)}.`)).toBe("x[REDACTED]y and [REDACTED].");
    // Two pieces side by side are one run; 7 characters are not a piece.
    expect(s.scrub(`${secret.slice(0, 9)}${secret.slice(9)}`)).toBe(REDACTED_ONCE);
    expect(s.scrub(`<${secret.slice(2, 9)}>`)).toBe(`<${secret.slice(2, 9)}>`);
    // A key given with | for newlines, as single-line CI secrets carry it, registers its lines.
    const piped = new Secrets();
    piped.add(keys.privateKeyPkcs1.trim().replaceAll("\n", "|"));
    const line = keys.privateKeyPkcs1.split("\n")[5];
    expect(piped.scrub(`key line ${line.slice(10, 30)} quoted`)).toBe("key line [REDACTED] quoted");
  });
});
