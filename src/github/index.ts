// GitHub commit statuses through a GitHub App (SPEC §9). Import this module
// lazily (`await import("./github")`): it pulls in node:crypto and node:fs,
// and octokit on first use, none of which the runner's start-up needs.
//
// Nothing here throws to the caller or fails a build: a problem becomes one
// warn line (credentials never in it) and the task goes on without a status.
import type { Config } from "../config";
import { GithubStatusClient } from "./client";
import { DEFAULT_POLICY, type HttpPolicy } from "./http";
import { Secrets, describeError } from "./redact";
import { checkSettings } from "./settings";
import { TokenStore } from "./token";

export interface StatusRequest {
  context: string;
  description: string | null;
  state: "pending" | "success" | "failure" | "error";
  target_url: string | null;
}

export interface Log {
  warn(msg: string): void;
  debug(msg: string): void;
}

export interface CommitStatusClient {
  /** Never throws; a fault is one warn line. */
  post(sha: string, req: StatusRequest): Promise<void>;
  /** Whether a status with this context exists on the commit; a fault is false plus one warn line. */
  hasStatus(sha: string, context: string): Promise<boolean>;
}

/** Timeouts and retries; the defaults suit GitHub, tests shorten them. */
export interface ClientOptions extends Partial<HttpPolicy> {
  /** Longest wait for another process holding the token cache lock. */
  lockTimeoutMs?: number;
}

export { REFRESH_WARNING } from "./client";
export { CACHE_FILE } from "./token";

const DISABLED = "commit statuses will not be reported";

/** The client's parts, or what is wrong with the settings; secrets are registered with safeLog first. */
function setUp(config: Config, stateDirectory: string, log: Log, options: ClientOptions) {
  const secrets = new Secrets();
  secrets.add(config.github.privateKey);
  const safeLog = secrets.wrap(log);
  const build = () => {
    const checked = checkSettings(config.github);
    if (checked.kind === "invalid") return { kind: "invalid" as const, problem: checked.problem };
    secrets.add(checked.settings.privateKeyPkcs8);
    const policy = { ...DEFAULT_POLICY, ...definedOnly(options) };
    const tokens = new TokenStore(checked.settings, stateDirectory, { lockTimeoutMs: 60_000, ...policy }, safeLog, secrets);
    return { kind: "ready" as const, settings: checked.settings, policy, tokens };
  };
  return { secrets, safeLog, build };
}

/** null plus one warn line naming the variable when the credentials or repository are missing or invalid. */
export function openCommitStatus(
  config: Config,
  stateDirectory: string,
  log: Log,
  options: ClientOptions = {},
): CommitStatusClient | null {
  const { secrets, safeLog, build } = setUp(config, stateDirectory, log, options);
  try {
    const parts = build();
    if (parts.kind === "invalid") {
      safeLog.warn(`TASKRUNNER_ENABLE_COMMIT_STATUS=1 but ${parts.problem}; ${DISABLED}`);
      return null;
    }
    return new GithubStatusClient(parts.settings, parts.tokens, parts.policy, safeLog, secrets);
  } catch (e) {
    safeLog.warn(`GitHub commit statuses unavailable: ${describeError(e)}; ${DISABLED}`);
    return null;
  }
}

/**
 * Called once by the toplevel at start: makes sure a valid token is in the
 * cache file, so the build's tasks find it there. Missing credentials are only
 * a debug line here: every process that reports opens a client, and that says it.
 */
export async function prefetchToken(config: Config, stateDirectory: string, log: Log, options: ClientOptions = {}): Promise<void> {
  const { safeLog, build } = setUp(config, stateDirectory, log, options);
  try {
    const parts = build();
    if (parts.kind === "invalid") {
      safeLog.debug(`GitHub token not prefetched: ${parts.problem}`);
      return;
    }
    const result = await parts.tokens.token();
    if (result.kind === "failed") safeLog.warn(`Could not fetch a GitHub installation token: ${result.message}`);
  } catch (e) {
    safeLog.warn(`Could not fetch a GitHub installation token: ${describeError(e)}`);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
