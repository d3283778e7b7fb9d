// The installation token, shared by every taskrunner process of every build
// through <state>/.github-token-cache.json. A build may run hundreds of
// nested taskrunners, each posting statuses; GitHub rate-limits token
// creation, so one build asks for one token: each process reads the cache
// file under an exclusive flock on the .lock file beside it and only the one
// that finds it missing or about to expire asks GitHub for a new one.
//
// auth-app, which puts the token on every request, reads it through `hook`
// (its cache option): the token this store last read from the file or fetched.
import { closeSync, fstatSync, openSync, readFileSync, constants } from "node:fs";
import { errnoText, mkdirp, writeFileAtomic } from "../sys/libc";
import { lockPolling } from "../state/locks";
import type { Log } from "../sys/log";
import type { GithubSettings } from "./settings";
import type { ApiResult, TokenCacheHook } from "./api";
import type { Secrets } from "./redact";
import { describeError } from "../sys/errors";

export const CACHE_FILE = ".github-token-cache.json";

export type TokenResult = { kind: "ok"; token: string } | { kind: "failed"; message: string };

export type FetchToken = () => Promise<
  { kind: "ok"; token: string; expiresAt: string | undefined } | Exclude<ApiResult, { kind: "ok" }>
>;

interface CachedToken {
  token: string;
  expiresAtMs: number;
}

const LONG_AGO = new Date(0).toISOString();

/** GitHub's documented lifetime, for an answer that leaves expires_at out. */
const DEFAULT_LIFETIME_MS = 60 * 60 * 1000;

export class TokenStore {
  private memory: CachedToken | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  readonly cachePath: string;
  readonly lockPath: string;

  /**
   * For auth-app: the token in memory (token() and replace() keep it fresh
   * before each request), in auth-app's format. Its creation time is given as
   * long ago: auth-app would otherwise answer a 401 on a token younger than 5 s
   * by waiting and retrying for up to 5 s, where the contract says warn, buy a
   * new token, retry once — which client.ts does.
   */
  readonly hook: TokenCacheHook = {
    get: async () =>
      this.memory
        ? `${this.memory.token}|${LONG_AGO}|${new Date(this.memory.expiresAtMs).toISOString()}|all||`
        : undefined,
    // What auth-app fetches arrives here too; we keep it from fetchToken's answer, checked, under the lock.
    set: async () => {},
  };

  constructor(
    private readonly settings: GithubSettings,
    private readonly stateDirectory: string,
    private readonly lockTimeoutMs: number,
    private readonly fetchToken: FetchToken,
    private readonly log: Log,
    private readonly secrets: Secrets,
  ) {
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
    const usable = (t: CachedToken | null): t is CachedToken =>
      t !== null && (rejected === null ? this.fresh(t) : t.token !== rejected && t.expiresAtMs > Date.now());
    if (usable(this.memory)) return { kind: "ok", token: this.memory.token };
    mkdirp(this.stateDirectory);
    const lock = await lockPolling(this.lockPath, this.lockTimeoutMs);
    if (lock.kind === "failed") {
      // Still report statuses, just without sharing the token.
      this.log.debug(`GitHub token cache not shared: ${lock.message}`);
      return this.fetch(false);
    }
    try {
      const cached = this.readCache();
      if (usable(cached)) {
        this.memory = cached;
        return { kind: "ok", token: cached.token };
      }
      return await this.fetch(true);
    } finally {
      lock.release();
    }
  }

  private async fetch(persist: boolean): Promise<TokenResult> {
    const result = await this.fetchToken();
    if (result.kind !== "ok") return { kind: "failed", message: result.message };
    const expiresAtMs = result.expiresAt === undefined ? Number.NaN : Date.parse(result.expiresAt);
    this.log.debug(
      `Fetched a GitHub installation token for installation ${this.settings.installationId}` +
        (Number.isNaN(expiresAtMs)
          ? " (no expiry given; assuming 1 hour)"
          : `, expires ${new Date(expiresAtMs).toISOString()}`),
    );
    this.memory = {
      token: result.token,
      expiresAtMs: Number.isNaN(expiresAtMs) ? Date.now() + DEFAULT_LIFETIME_MS : expiresAtMs,
    };
    if (persist) this.writeCache(this.memory);
    return { kind: "ok", token: result.token };
  }

  // The file names the API, app and installation the token belongs to, so a
  // state directory shared between configurations never hands one the other's.
  // One written by someone else (another user, or readable by others) is not
  // trusted: its token could be anyone's, or already seen by anyone.
  private readCache(): CachedToken | null {
    let text: string;
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink planted in a shared state directory is not ours either.
      fd = openSync(this.cachePath, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return null; // no cache yet
      this.log.debug(`${this.cachePath} cannot be opened (${describeError(e)}); fetching a new token`);
      return null;
    }
    try {
      const st = fstatSync(fd);
      const uid = process.getuid?.() ?? st.uid;
      if (st.uid !== uid || (st.mode & 0o077) !== 0 || !st.isFile()) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
        this.log.debug(
          `${this.cachePath} is not ours alone (owner uid ${st.uid}, mode ${mode}); ` +
            "not using its token, fetching a new one",
        );
        return null;
      }
      text = readFileSync(fd, "utf8");
    } catch (e) {
      this.log.debug(`${this.cachePath} is unreadable (${describeError(e)}); fetching a new token`);
      return null;
    } finally {
      closeSync(fd);
    }
    try {
      const j = JSON.parse(text) as Record<string, unknown>;
      const expires = typeof j.expiresAt === "string" ? j.expiresAt : j.expires_at;
      const expiresAtMs = typeof expires === "string" ? Date.parse(expires) : Number.NaN;
      if (typeof j.token !== "string" || !j.token || Number.isNaN(expiresAtMs)) throw new Error("no token or expiry");
      const s = this.settings;
      for (const [field, want] of [
        ["apiUrl", s.apiUrl],
        ["appId", s.appId],
        ["installationId", s.installationId],
      ] as const) {
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

  // Atomic, so a reader (under the lock, or a crashed writer's successor) sees
  // the old file or the new one; 0600 because the token can write statuses for
  // every repository of the installation.
  private writeCache(entry: CachedToken): void {
    const { apiUrl, appId, installationId } = this.settings;
    const expiresAt = new Date(entry.expiresAtMs).toISOString();
    const text = `${JSON.stringify({ token: entry.token, expiresAt, apiUrl, appId, installationId })}\n`;
    const err = writeFileAtomic(this.cachePath, text, 0o600);
    if (err) this.log.debug(`cannot write ${this.cachePath} (${errnoText(err)}); the token is not shared`);
  }
}
