// The installation token, shared by every taskrunner process of every build
// through <state>/.github-token-cache.json. A build may run hundreds of
// nested taskrunners, each posting statuses; GitHub rate-limits token
// creation, so one build asks for one token: each process reads the cache
// file under an exclusive flock on the .lock file beside it and only the one
// that finds it missing or about to expire asks GitHub for a new one.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { flock, Errno, LOCK_EX, LOCK_NB } from "../sys";
import type { Log } from "./index";
import type { GithubSettings } from "./settings";
import { callApi, type HttpPolicy } from "./http";
import { jwtFactory, type JwtFactory } from "./jwt";
import { describeError, type Secrets } from "./redact";

export const CACHE_FILE = ".github-token-cache.json";

export type TokenResult = { kind: "ok"; token: string } | { kind: "failed"; message: string };

interface CachedToken {
  token: string;
  expiresAtMs: number;
}

/** GitHub's documented lifetime, for an answer that leaves expires_at out. */
const DEFAULT_LIFETIME_MS = 60 * 60 * 1000;

export class TokenStore {
  private memory: CachedToken | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly jwt: JwtFactory;
  readonly cachePath: string;
  readonly lockPath: string;

  constructor(
    private readonly settings: GithubSettings,
    private readonly stateDirectory: string,
    private readonly policy: HttpPolicy & { lockTimeoutMs: number },
    private readonly log: Log,
    private readonly secrets: Secrets,
  ) {
    this.jwt = jwtFactory(settings.appId, settings.privateKeyPkcs8);
    this.cachePath = `${stateDirectory}/${CACHE_FILE}`;
    this.lockPath = `${this.cachePath}.lock`;
  }

  /** A token that does not expire within the refresh threshold (or a fresh one). */
  token(): Promise<TokenResult> {
    if (this.memory && this.fresh(this.memory)) return Promise.resolve({ kind: "ok", token: this.memory.token });
    return this.serially(() => this.throughCache(null));
  }

  /**
   * After GitHub refused `rejected` with 401: another process may have replaced
   * it already (then use theirs); otherwise buy a new one, whatever its
   * reported expiry says.
   */
  replace(rejected: string): Promise<TokenResult> {
    this.memory = null;
    return this.serially(() => this.throughCache(rejected));
  }

  private fresh(t: CachedToken): boolean {
    return t.expiresAtMs - Date.now() > this.settings.tokenRefreshThresholdSeconds * 1000;
  }

  // flock contends between descriptors, not processes, so two callers in this
  // process would queue on the file lock too; queueing them here first saves
  // the polling and lets the second reuse what the first fetched.
  private serially<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => {});
    return run;
  }

  private async throughCache(rejected: string | null): Promise<TokenResult> {
    if (rejected === null && this.memory && this.fresh(this.memory)) return { kind: "ok", token: this.memory.token };
    const lock = await lockFile(this.lockPath, this.policy.lockTimeoutMs, this.stateDirectory);
    if (lock.kind === "failed") {
      // Still report statuses, just without sharing the token.
      this.log.debug(`GitHub token cache not shared: ${lock.message}`);
      return this.remember(await this.fetch(), false);
    }
    try {
      const cached = this.readCache();
      if (cached) {
        const usable = rejected === null ? this.fresh(cached) : cached.token !== rejected && cached.expiresAtMs > Date.now();
        if (usable) {
          this.memory = cached;
          return { kind: "ok", token: cached.token };
        }
      }
      return this.remember(await this.fetch(), true);
    } finally {
      closeSync(lock.fd); // closing the descriptor releases the flock
    }
  }

  private remember(result: TokenResult & { expiresAtMs?: number }, persist: boolean): TokenResult {
    if (result.kind !== "ok") return result;
    const entry = { token: result.token, expiresAtMs: result.expiresAtMs ?? Date.now() + DEFAULT_LIFETIME_MS };
    this.memory = entry;
    if (persist) this.writeCache(entry);
    return { kind: "ok", token: result.token };
  }

  private async fetch(): Promise<TokenResult & { expiresAtMs?: number }> {
    const { apiUrl, installationId } = this.settings;
    let jwt: string;
    try {
      jwt = await this.jwt();
    } catch (e) {
      return { kind: "failed", message: `cannot sign a JWT with GITHUB_APP_PRIVATE_KEY: ${describeError(e)}` };
    }
    this.secrets.add(jwt);
    const result = await callApi(
      {
        method: "POST",
        url: `${apiUrl}/app/installations/${installationId}/access_tokens`,
        authorization: `Bearer ${jwt}`,
        label: `POST /app/installations/${installationId}/access_tokens`,
        hints: {
          403: "check that the GitHub App may access this installation",
          404: `check GITHUB_INSTALLATION_ID=${installationId} (is the GitHub App installed there?)`,
        },
      },
      this.policy,
      this.log,
      (m) => this.secrets.scrub(m),
    );
    if (result.kind === "unauthorized") {
      return {
        kind: "failed",
        message: `GitHub rejected the app's JWT (401: ${result.message}); check GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and the machine's clock`,
      };
    }
    if (result.kind === "failed") return result;
    const body = result.json as { token?: unknown; expires_at?: unknown } | null | undefined;
    if (!body || typeof body.token !== "string" || body.token === "") {
      return { kind: "failed", message: `GitHub's answer to POST /app/installations/${installationId}/access_tokens has no token` };
    }
    this.secrets.add(body.token);
    const expiresAtMs = typeof body.expires_at === "string" ? Date.parse(body.expires_at) : Number.NaN;
    this.log.debug(
      `Fetched a GitHub installation token for installation ${installationId}` +
        (Number.isNaN(expiresAtMs) ? " (no expiry given; assuming 1 hour)" : `, expires ${new Date(expiresAtMs).toISOString()}`),
    );
    return { kind: "ok", token: body.token, expiresAtMs: Number.isNaN(expiresAtMs) ? undefined : expiresAtMs };
  }

  // The file names the API, app and installation the token belongs to, so a
  // state directory shared between configurations never hands one the other's.
  private readCache(): CachedToken | null {
    let text: string;
    try {
      text = readFileSync(this.cachePath, "utf8");
    } catch {
      return null; // no cache yet
    }
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const expires = typeof j.expiresAt === "string" ? j.expiresAt : j.expires_at;
      const expiresAtMs = typeof expires === "string" ? Date.parse(expires) : Number.NaN;
      if (typeof j.token !== "string" || !j.token || Number.isNaN(expiresAtMs)) throw new Error("no token or expiry");
      const s = this.settings;
      for (const [field, want] of [["apiUrl", s.apiUrl], ["appId", s.appId], ["installationId", s.installationId]] as const) {
        if (j[field] !== undefined && j[field] !== want) {
          this.log.debug(`${this.cachePath} holds a token for another ${field}; fetching a new one`);
          return null;
        }
      }
      this.secrets.add(j.token);
      return { token: j.token, expiresAtMs };
    } catch (e) {
      this.log.debug(`${this.cachePath} is unreadable (${describeError(e)}); fetching a new token`);
      return null;
    }
  }

  // Temp file + rename: a reader (under the lock, or a crashed writer's
  // successor) sees the old file or the new one, never half of one. 0600
  // because the token can write statuses for every repository of the installation.
  private writeCache(entry: CachedToken): void {
    const { apiUrl, appId, installationId } = this.settings;
    const text = `${JSON.stringify({ token: entry.token, expiresAt: new Date(entry.expiresAtMs).toISOString(), apiUrl, appId, installationId })}\n`;
    const tmp = `${this.cachePath}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      writeFileSync(tmp, text, { mode: 0o600, flag: "wx" });
      renameSync(tmp, this.cachePath);
    } catch (e) {
      rmSync(tmp, { force: true });
      this.log.debug(`cannot write ${this.cachePath} (${describeError(e)}); the token is not shared`);
    }
  }
}

type Lock = { kind: "locked"; fd: number } | { kind: "failed"; message: string };

/**
 * An exclusive flock on path. Polled with LOCK_NB rather than blocking: a
 * blocking flock would stop this process's event loop, and with it a holder
 * in this same process that is awaiting GitHub's answer: a deadlock.
 * openSync descriptors are close-on-exec, so a task never inherits the lock.
 */
async function lockFile(path: string, timeoutMs: number, directory: string): Promise<Lock> {
  let fd: number;
  try {
    mkdirSync(directory, { recursive: true });
    // Read-only is enough for flock, and works on a lock file another user created.
    fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o644);
  } catch (e) {
    return { kind: "failed", message: `cannot open ${path}: ${describeError(e)}` };
  }
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
    const r = flock(fd, LOCK_EX | LOCK_NB);
    if (r === 0) return { kind: "locked", fd };
    if (r !== Errno.EAGAIN || Date.now() > deadline) {
      closeSync(fd);
      return { kind: "failed", message: r === Errno.EAGAIN ? `${path} stayed locked for ${timeoutMs / 1000} s` : `cannot lock ${path}: errno ${r}` };
    }
    await Bun.sleep(pause);
  }
}
