// GitHub commit statuses through a GitHub App (docs/contract.md §9). Import this module
// lazily (`await import("./github")`): it pulls in node:crypto and node:fs,
// and the octokit stack (./api) when a client is opened, none of which the
// runner's start-up needs.
//
// Nothing here throws to the caller or fails a build: a problem becomes one
// warn line (credentials never in it) and the task goes on without a status.
import type { Config } from "../config";
import { FailureGate } from "../state/failure-gate";
import { GithubStatusClient, OFF } from "./client";
import { Secrets } from "./redact";
import { describeError } from "../sys/errors";
import { checkSettings } from "./settings";
import { TokenStore, type FetchToken } from "./token";
import type { ClientOptions, CommitStatusClient, HttpPolicy, Places } from "./types";
import type { Log } from "../sys/log";

export type { StatusRequest, CommitStatusClient, HttpPolicy, ClientOptions, Places } from "./types";
export { REFRESH_WARNING, OFF } from "./client";
export { CACHE_FILE } from "./token";

const DEFAULT_POLICY: HttpPolicy = { timeoutMs: 10_000, retries: 2, backoffMs: 250 };

const DISABLED = "commit statuses will not be reported";

/**
 * A client, or what is wrong with the settings. The secrets known so far are
 * registered with safeLog first; the octokit stack is loaded only here.
 */
async function setUp(config: Config, places: Places, log: Log, options: ClientOptions) {
  const secrets = new Secrets();
  secrets.add(config.github.privateKey);
  const safeLog = secrets.wrap(log);
  try {
    const checked = checkSettings(config.github);
    if (checked.kind === "invalid") return { kind: "invalid" as const, problem: checked.problem, safeLog };
    const { settings } = checked;
    secrets.add(settings.privateKeyPkcs8);
    const { signal, lockTimeoutMs, ...http } = options;
    const policy = { ...DEFAULT_POLICY, ...definedOnly(http) };
    const gate = new FailureGate(places.buildDir, "github", "GitHub API", safeLog);
    const { GithubApi } = await import("./api");
    // The store and auth-app need each other: the store buys tokens through the API
    // (called only later, once `api` exists), auth-app reads them from the store.
    const fetchToken: FetchToken = async () =>
      gate.closed ? { kind: "failed", message: OFF } : api.newInstallationToken();
    const tokens = new TokenStore(settings, places.stateDir, lockTimeoutMs ?? 60_000, fetchToken, safeLog, secrets);
    const api = new GithubApi(settings, policy, tokens.hook, safeLog, secrets, signal);
    return {
      kind: "ready" as const,
      client: new GithubStatusClient(settings, api, tokens, gate, safeLog, signal),
      safeLog,
    };
  } catch (e) {
    return { kind: "broken" as const, problem: describeError(e), safeLog };
  }
}

/** null plus one warn line naming the variable when the credentials or repository are missing or invalid. */
export async function openCommitStatus(
  config: Config,
  places: Places,
  log: Log,
  options: ClientOptions = {},
): Promise<CommitStatusClient | null> {
  const opened = await setUp(config, places, log, options);
  if (opened.kind === "ready") return opened.client;
  if (opened.kind === "invalid")
    opened.safeLog.warn(`TASKRUNNER_ENABLE_COMMIT_STATUS=1 but ${opened.problem}; ${DISABLED}`);
  else opened.safeLog.warn(`GitHub commit statuses unavailable: ${opened.problem}; ${DISABLED}`);
  return null;
}

/**
 * Called once by the toplevel at start: makes sure a valid token is in the
 * cache file, so the build's tasks find it there. Missing credentials are only
 * a debug line here: every process that reports opens a client, and that says it.
 */
export async function prefetchToken(
  config: Config,
  places: Places,
  log: Log,
  options: ClientOptions = {},
): Promise<void> {
  const opened = await setUp(config, places, log, options);
  if (opened.kind === "ready") await opened.client.prefetch();
  else opened.safeLog.debug(`GitHub token not prefetched: ${opened.problem}`);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
