// A fake GitHub API: a real HTTP server on 127.0.0.1 that the client (and the
// compiled binary, in golden tests) talks to over HTTP. It checks what GitHub
// checks (the app JWT's RS256 signature and claims, installation tokens and
// their expiry), records what was asked in the old tool's words
// ("Requested access token for installation 123", "Updated commit status for
// owner/repo to {...}"), and can be told to misbehave.
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from "node:crypto";

export interface TestKeys {
  /** PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
  privateKey: string;
  /** The same key as PKCS#1 ("BEGIN RSA PRIVATE KEY"), the format GitHub hands out. */
  privateKeyPkcs1: string;
  publicKey: KeyObject;
}

/** A fresh 2048-bit RSA pair; ~50 ms, so make one per test file. */
export function generateTestKeys(): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    privateKeyPkcs1: privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    publicKey,
  };
}

export type Route = "access_tokens" | "create_status" | "list_statuses";

export interface Fault {
  route: Route | "any";
  /** Answer with this status (and GitHub-like JSON {"message"}), or… */
  status?: number;
  /** …never answer (until the server stops), or… */
  hang?: boolean;
  /** …answer as usual, but only after this long (a slow API). */
  delayMs?: number;
  headers?: Record<string, string>;
  message?: string;
  /**
   * Put the request's credential in the message, like a careless proxy: the
   * whole Authorization header, the credential less its last 3 characters, or
   * a JWT's signature part alone.
   */
  echoAuthorization?: true | "cut-short" | "jwt-signature";
  /** How many requests it hits; default: every one until clearFaults(). */
  times?: number;
}

export interface RecordedStatus {
  owner: string;
  repo: string;
  sha: string;
  /** The request body exactly as sent. */
  body: string;
  context: string;
  state: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** 0 for a request held by a hang or delay fault. */
  status: number;
}

export interface JwtClaims {
  iss: unknown;
  iat: number;
  exp: number;
}

export interface FakeGithubOptions {
  publicKey: KeyObject;
  appId?: string;
  installationId?: string;
  tokenLifetimeSeconds?: number;
  /** Added to the expires_at the server reports (not to the real expiry): clock skew. */
  expiresAtOffsetSeconds?: number;
}

export interface FakeGithub {
  /** http://127.0.0.1:<port>, for GITHUB_API_URL. */
  readonly url: string;
  readonly appId: string;
  readonly installationId: string;
  tokenLifetimeSeconds: number;
  expiresAtOffsetSeconds: number;
  /** How far GitHub's clock is from ours (negative: behind), for the JWT's checks and the Date header. */
  clockOffsetSeconds: number;
  /** Where the API lives on the server: "" (github.com's layout) or "/api/v3" (GitHub Enterprise Server's). */
  pathPrefix: string;
  /** The old tool's "-- github:" lines, in order. */
  readonly output: string[];
  readonly statuses: RecordedStatus[];
  readonly requests: RecordedRequest[];
  readonly jwtClaims: JwtClaims[];
  /** Every credential the server saw or issued: tests check none reached a log line. */
  readonly secretsSeen: string[];
  tokenRequests(): number;
  fail(fault: Fault): void;
  clearFaults(): void;
  /** Invalidate every issued token (the next call gets 401). */
  revokeTokens(): void;
  /** Add a status without a request (for pagination tests). */
  addStatus(owner: string, repo: string, sha: string, context: string, state?: string): void;
  /** Forget requests, statuses, tokens and faults; restore lifetime defaults. */
  reset(): void;
  stop(): Promise<void>;
}

const JSON_HEADERS = { "Content-Type": "application/json; charset=utf-8" };

function reply(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
}

/** What an echoAuthorization fault puts in its message. */
function echoed(fault: Fault, auth: string | null): string {
  if (!fault.echoAuthorization || !auth) return "";
  const credential = auth.replace(/^\S+\s+/, "");
  if (fault.echoAuthorization === "cut-short") return ` (request had a credential starting ${credential.slice(0, -3)})`;
  if (fault.echoAuthorization === "jwt-signature")
    return ` (signature ${credential.split(".")[2] ?? ""} did not verify)`;
  return ` (request had Authorization: ${auth})`;
}

function base64url(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

export function startFakeGithub(options: FakeGithubOptions): FakeGithub {
  const appId = options.appId ?? "1234";
  const installationId = options.installationId ?? "123";
  const tokens = new Map<string, number>(); // token → real expiry (ms)
  const statusesBySha = new Map<string, RecordedStatus[]>();
  let faults: Fault[] = [];
  const hanging = new Set<() => void>();

  function checkJwt(authorization: string | null): string | null {
    const m = /^Bearer (.+)$/i.exec(authorization ?? "");
    if (!m) return "A JSON web token could not be decoded";
    const parts = m[1].split(".");
    if (parts.length !== 3) return "A JSON web token could not be decoded";
    let header: { alg?: string };
    let claims: JwtClaims;
    try {
      header = JSON.parse(base64url(parts[0]).toString());
      claims = JSON.parse(base64url(parts[1]).toString());
    } catch {
      return "A JSON web token could not be decoded";
    }
    if (header.alg !== "RS256") return "JWT alg must be RS256";
    const signed = verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), options.publicKey, base64url(parts[2]));
    if (!signed) return "JWT signature does not match the app's public key";
    fake.jwtClaims.push(claims);
    const now = Date.now() / 1000 + fake.clockOffsetSeconds;
    if (String(claims.iss) !== appId) return `'Issuer' claim ('iss') must be the app id ${appId}`;
    if (!(claims.iat <= now + 1))
      return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
    if (!(claims.exp > now)) return "'Expiration time' claim ('exp') is in the past";
    if (claims.exp - now > 600 + 1) return "'Expiration time' claim ('exp') is too far in the future";
    return null;
  }

  function checkToken(authorization: string | null): boolean {
    const m = /^(?:token|bearer) (.+)$/i.exec(authorization ?? "");
    const expiry = m ? tokens.get(m[1]) : undefined;
    return expiry !== undefined && expiry > Date.now();
  }

  async function route(req: Request, _path: string, kind: Route, parts: string[]): Promise<Response> {
    const url = new URL(req.url);
    const auth = req.headers.get("authorization");
    if (kind === "access_tokens") {
      if (req.method !== "POST") return reply(404, { message: "Not Found" });
      const problem = checkJwt(auth);
      if (problem) return reply(401, { message: problem });
      if (parts[2] !== installationId) return reply(404, { message: "Not Found" });
      const token = `ghs_${randomBytes(18).toString("hex")}`;
      const now = Date.now();
      tokens.set(token, now + fake.tokenLifetimeSeconds * 1000);
      fake.secretsSeen.push(token);
      fake.output.push(`Requested access token for installation ${parts[2]}`);
      const reported = new Date(now + (fake.tokenLifetimeSeconds + fake.expiresAtOffsetSeconds) * 1000);
      return reply(201, {
        token,
        expires_at: reported.toISOString().replace(/\.\d+Z$/, "Z"),
        permissions: { statuses: "write" },
      });
    }
    if (!checkToken(auth)) return reply(401, { message: "Bad credentials" });
    const [, owner, repo] = parts;
    if (kind === "create_status") {
      if (req.method !== "POST") return reply(404, { message: "Not Found" });
      const sha = parts[4];
      const body = await req.text();
      let parsed: { context?: unknown; state?: unknown };
      try {
        parsed = JSON.parse(body);
      } catch {
        return reply(400, { message: "Problems parsing JSON" });
      }
      if (!["pending", "success", "failure", "error"].includes(String(parsed.state))) {
        return reply(422, { message: "Validation Failed", errors: [{ message: "state is not included in the list" }] });
      }
      const status = {
        owner,
        repo,
        sha,
        body,
        context: String(parsed.context ?? "default"),
        state: String(parsed.state),
      };
      fake.statuses.push(status);
      const key = `${owner}/${repo}/${sha}`;
      statusesBySha.set(key, [...(statusesBySha.get(key) ?? []), status]);
      fake.output.push(`Updated commit status for ${owner}/${repo} to ${body}`);
      return reply(201, { ...JSON.parse(body), id: fake.statuses.length });
    }
    // list_statuses: newest first, paginated like GitHub (per_page ≤ 100, Link rel="next").
    if (req.method !== "GET") return reply(404, { message: "Not Found" });
    const all = [...(statusesBySha.get(`${owner}/${repo}/${parts[4]}`) ?? [])].reverse();
    const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30) || 30);
    const page = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
    const items = all.slice((page - 1) * perPage, page * perPage).map((s, i) => ({
      id: i + 1,
      state: s.state,
      context: s.context,
      ...JSON.parse(s.body.startsWith("{") ? s.body : "{}"),
    }));
    const headers: Record<string, string> = {};
    if (page * perPage < all.length) {
      const next = new URL(url);
      next.searchParams.set("page", String(page + 1));
      headers.Link = `<${next.toString()}>; rel="next"`;
    }
    return reply(200, items, headers);
  }

  function classify(path: string): { kind: Route; parts: string[] } | null {
    const parts = path.split("/").filter(Boolean);
    if (parts.length === 4 && parts[0] === "app" && parts[1] === "installations" && parts[3] === "access_tokens") {
      return { kind: "access_tokens", parts };
    }
    if (parts.length === 5 && parts[0] === "repos" && parts[3] === "statuses") return { kind: "create_status", parts };
    if (parts.length === 6 && parts[0] === "repos" && parts[3] === "commits" && parts[5] === "statuses") {
      return { kind: "list_statuses", parts };
    }
    return null;
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0, // a "hang" fault must last until the client gives up
    async fetch(req) {
      const full = new URL(req.url).pathname;
      const path = full.startsWith(`${fake.pathPrefix}/`)
        ? full.slice(fake.pathPrefix.length)
        : `/not-under-the-prefix${full}`;
      const auth = req.headers.get("authorization");
      if (auth) fake.secretsSeen.push(auth.replace(/^\S+\s+/, ""));
      const matched = classify(path);
      let res: Response;
      const fault = matched ? faults.find((f) => f.route === "any" || f.route === matched.kind) : undefined;
      if (!matched) {
        res = reply(404, { message: "Not Found" });
      } else if (fault) {
        if (fault.times !== undefined && --fault.times <= 0) faults = faults.filter((f) => f !== fault);
        if (fault.hang) {
          fake.requests.push({ method: req.method, path, status: 0 });
          await new Promise<void>((resolve) => hanging.add(resolve));
          return new Response(null, { status: 503 });
        }
        if (fault.delayMs !== undefined) {
          // Recorded on arrival, as a hang is: the client may have given up before the answer.
          fake.requests.push({ method: req.method, path, status: 0 });
          let stopped = false;
          await new Promise<void>((resolve) => {
            const wake = () => ((stopped = true), clearTimeout(timer), resolve());
            const timer = setTimeout(() => (hanging.delete(wake), resolve()), fault.delayMs);
            hanging.add(wake);
          });
          if (stopped) return new Response(null, { status: 503 });
          return route(req, path, matched.kind, matched.parts);
        } else {
          const status = fault.status ?? 500;
          res = reply(
            status,
            { message: `${fault.message ?? `fault ${status}`}${echoed(fault, auth)}` },
            fault.headers,
          );
        }
      } else {
        res = await route(req, path, matched.kind, matched.parts);
      }
      fake.requests.push({ method: req.method, path, status: res.status });
      if (fake.clockOffsetSeconds !== 0)
        res.headers.set("Date", new Date(Date.now() + fake.clockOffsetSeconds * 1000).toUTCString());
      return res;
    },
  });

  const fake: FakeGithub = {
    url: `http://127.0.0.1:${server.port}`,
    appId,
    installationId,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
    expiresAtOffsetSeconds: options.expiresAtOffsetSeconds ?? 0,
    clockOffsetSeconds: 0,
    pathPrefix: "",
    output: [],
    statuses: [],
    requests: [],
    jwtClaims: [],
    secretsSeen: [],
    tokenRequests: () => fake.output.filter((l) => l.startsWith("Requested access token")).length,
    fail: (f) => void faults.push({ ...f }),
    clearFaults: () => void (faults = []),
    revokeTokens: () => tokens.clear(),
    addStatus(owner, repo, sha, context, state = "success") {
      const body = JSON.stringify({ context, description: null, state, target_url: null });
      const key = `${owner}/${repo}/${sha}`;
      statusesBySha.set(key, [...(statusesBySha.get(key) ?? []), { owner, repo, sha, body, context, state }]);
    },
    reset() {
      for (const list of [fake.output, fake.statuses, fake.requests, fake.jwtClaims]) list.length = 0;
      tokens.clear();
      statusesBySha.clear();
      faults = [];
      fake.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
      fake.expiresAtOffsetSeconds = options.expiresAtOffsetSeconds ?? 0;
      fake.clockOffsetSeconds = 0;
      fake.pathPrefix = "";
    },
    async stop() {
      for (const resolve of hanging) resolve();
      hanging.clear();
      await server.stop(true);
    },
  };
  return fake;
}

/**
 * The environment a taskrunner needs to report to `fake` (for golden tests).
 * The key goes in with `|` for newlines, as single-line CI secrets carry it.
 */
export function githubEnv(fake: FakeGithub, keys: TestKeys, repository = "fakeowner/fakerepo"): Record<string, string> {
  const [owner, repo] = repository.split("/");
  return {
    TASKRUNNER_ENABLE_COMMIT_STATUS: "1",
    GITHUB_API_URL: fake.url,
    GITHUB_APP_ID: fake.appId,
    GITHUB_INSTALLATION_ID: fake.installationId,
    GITHUB_APP_PRIVATE_KEY: keys.privateKeyPkcs1.trim().replaceAll("\n", "|"),
    GITHUB_REPOSITORY_OWNER: owner,
    GITHUB_REPOSITORY: repo,
  };
}

/** A Log that keeps what it was told, for assertions. */
export function captureLog(): {
  log: { warn(m: string): void; debug(m: string): void };
  warns: string[];
  debugs: string[];
} {
  const warns: string[] = [];
  const debugs: string[] = [];
  return { log: { warn: (m) => void warns.push(m), debug: (m) => void debugs.push(m) }, warns, debugs };
}

/**
 * Credentials of which `text` holds a piece of 8 characters or more: any the
 * fake saw or issued, or a line of the private key.
 */
export function leakedSecrets(text: string, fake: FakeGithub, keys: TestKeys): string[] {
  const keyLines = [keys.privateKey, keys.privateKeyPkcs1]
    .flatMap((k) => k.split("\n"))
    .filter((l) => l.length >= 16 && !l.startsWith("-----"));
  const pieces = new Set<string>();
  for (let i = 0; i + 8 <= text.length; i++) pieces.add(text.slice(i, i + 8));
  const leaks = (secret: string) => {
    for (let i = 0; i + 8 <= secret.length; i++) if (pieces.has(secret.slice(i, i + 8))) return true;
    return false;
  };
  return [...new Set([...fake.secretsSeen, ...keyLines])].filter(leaks);
}
