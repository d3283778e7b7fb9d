// Commit statuses for one repository: POST a status, look for an existing one.
// Authorised calls retry once with a new token when GitHub answers 401: a
// token can die before the expiry GitHub reported (revoked, clock skew).
//
// Statuses are a report, never a reason to wait: the build has a budget of
// GitHub faults (FailureGate, shared by its processes). A timeout or a token
// that cannot be had switches statuses off for the rest of the build at once,
// other faults after FAILURE_LIMIT; the fault that does it says so, in its
// one warn line, and later calls are a debug line each.
import type { CommitStatusClient, StatusRequest } from "./types";
import type { Log } from "../sys/log";
import type { GithubSettings } from "./settings";
import type { ApiResult, GithubApi, Hints } from "./api";
import type { TokenStore } from "./token";
import type { FailureGate } from "../state/failure-gate";
import { describeError } from "../sys/errors";

export const REFRESH_WARNING = "GitHub API returned 401, force-refreshing token and retrying...";
export const OFF = "commit statuses are off for the rest of this build";
const INTERRUPTED = "the task was interrupted";

/** Enough pages for any real commit (GitHub keeps at most 1000 statuses per context and sha). */
const MAX_STATUS_PAGES = 10;
const PER_PAGE = 100;
/** GitHub refuses longer descriptions with a 422; better a shortened one than none. */
const MAX_DESCRIPTION = 140;

type Outcome =
  | { kind: "ok"; data: unknown }
  | { kind: "failed"; message: string }
  | { kind: "off" }
  | { kind: "interrupted" };

export class GithubStatusClient implements CommitStatusClient {
  private readonly repoPath: string;

  constructor(
    private readonly settings: GithubSettings,
    private readonly api: GithubApi,
    private readonly tokens: TokenStore,
    private readonly gate: FailureGate,
    private readonly log: Log,
    private readonly interrupt?: AbortSignal,
  ) {
    this.repoPath = `/repos/${settings.owner}/${settings.repo}`;
  }

  /** The toplevel's fetch at start, so that the build's tasks find the token in the cache file. */
  async prefetch(): Promise<void> {
    if (this.gate.closed) return this.log.debug(`GitHub token not prefetched: ${OFF}`);
    const result = await this.tokens.token();
    if (result.kind === "ok") return;
    if (this.gate.closed) return this.log.debug(`GitHub token not prefetched: ${OFF}`);
    this.log.warn(`Could not fetch a GitHub installation token: ${this.fault(result.message, true)}`);
  }

  async post(sha: string, req: StatusRequest): Promise<void> {
    const what = `Commit status ${req.state} for ${req.context} not posted`;
    try {
      if (!isSha(sha)) return this.log.warn(`${what}: ${JSON.stringify(sha)} is not a commit id`);
      const description =
        req.description !== null && req.description.length > MAX_DESCRIPTION
          ? `${req.description.slice(0, MAX_DESCRIPTION - 1)}…`
          : req.description;
      const label = `POST ${this.repoPath}/statuses/${sha}`;
      const result = await this.authorized(label, () =>
        this.api.call(
          "POST /repos/{owner}/{repo}/statuses/{sha}",
          // Exactly these keys in this order, nulls spelled out: the body GitHub
          // (and the old tool's golden tests) see.
          {
            owner: this.settings.owner,
            repo: this.settings.repo,
            sha,
            context: req.context,
            description,
            state: req.state,
            target_url: req.target_url,
          },
          label,
          {
            403: 'check that the GitHub App has the "Commit statuses: write" permission',
            404:
              `check GITHUB_REPOSITORY/GITHUB_REPOSITORY_OWNER (${this.settings.owner}/${this.settings.repo}) ` +
              "and that the GitHub App is installed there",
          },
        ),
      );
      if (result.kind === "ok") this.log.debug(`Posted commit status ${req.state} for ${req.context} on ${sha}`);
      else if (result.kind === "off") this.log.debug(`${what}: ${OFF}`);
      else if (result.kind === "interrupted") this.log.debug(`${what}: ${INTERRUPTED}`);
      else this.log.warn(`${what}: ${result.message}`);
    } catch (e) {
      this.log.warn(`${what}: ${describeError(e)}`); // a bug; the build goes on
    }
  }

  async hasStatus(sha: string, context: string): Promise<boolean> {
    const what = `Could not read the commit statuses of ${sha}, assuming none for ${context}`;
    try {
      if (!isSha(sha)) {
        this.log.warn(`${what}: ${JSON.stringify(sha)} is not a commit id`);
        return false;
      }
      const label = `GET ${this.repoPath}/commits/${sha}/statuses`;
      const hints: Hints = {
        404: `check GITHUB_REPOSITORY/GITHUB_REPOSITORY_OWNER (${this.settings.owner}/${this.settings.repo})`,
      };
      // Page by page, by number: a Link header's URL could point anywhere, and the token goes nowhere but the API.
      for (let page = 1; page <= MAX_STATUS_PAGES; page++) {
        const params = { owner: this.settings.owner, repo: this.settings.repo, ref: sha, per_page: PER_PAGE, page };
        const result = await this.authorized(label, () =>
          this.api.call("GET /repos/{owner}/{repo}/commits/{ref}/statuses", params, label, hints),
        );
        if (result.kind === "off" || result.kind === "interrupted") {
          this.log.debug(`${what}: ${result.kind === "off" ? OFF : INTERRUPTED}`);
          return false;
        }
        if (result.kind === "failed") {
          this.log.warn(`${what}: ${result.message}`);
          return false;
        }
        if (!Array.isArray(result.data)) {
          this.log.warn(`${what}: GitHub's answer is not a list of statuses`);
          return false;
        }
        if (result.data.some((s) => (s as { context?: unknown } | null)?.context === context)) return true;
        if (result.data.length < PER_PAGE) return false;
      }
      return false;
    } catch (e) {
      this.log.warn(`${what}: ${describeError(e)}`);
      return false;
    }
  }

  private async authorized(label: string, call: () => Promise<ApiResult>): Promise<Outcome> {
    if (this.gate.closed) return { kind: "off" };
    // A request stopped by the task's interruption is no fault of the API: not counted, not warned about.
    const first = await this.tokens.token();
    if (this.interrupt?.aborted) return { kind: "interrupted" };
    if (first.kind === "failed") return this.tokenFailure(`no GitHub installation token: ${first.message}`);
    let result = await call();
    if (this.interrupt?.aborted) return { kind: "interrupted" };
    if (result.kind === "unauthorized") {
      this.log.warn(REFRESH_WARNING);
      const second = await this.tokens.replace(first.token);
      if (this.interrupt?.aborted) return { kind: "interrupted" };
      if (second.kind === "failed") return this.tokenFailure(`no new GitHub installation token: ${second.message}`);
      result = await call();
      if (this.interrupt?.aborted) return { kind: "interrupted" };
      if (result.kind === "unauthorized") {
        result = {
          kind: "failed",
          message:
            `GitHub API answered 401 to ${label} even with a new token (${result.message}); ` +
            `check that the GitHub App is installed on ${this.settings.owner}/${this.settings.repo}`,
        };
      }
    }
    if (result.kind === "ok") return { kind: "ok", data: result.data };
    // A timeout says the API is too slow to be worth waiting for again in this build.
    return { kind: "failed", message: this.fault(result.message, result.kind === "timeout") };
  }

  /** Without a token nothing can be reported: off at once (unless another process already said so). */
  private tokenFailure(message: string): Outcome {
    if (this.gate.closed) return { kind: "off" };
    return { kind: "failed", message: this.fault(message, true) };
  }

  /** Counts a fault (`final`: switches statuses off); the message, saying so when this fault did it. */
  private fault(message: string, final: boolean): string {
    const closedNow = final ? this.gate.close(message) : this.gate.record(message);
    return closedNow ? `${message}; ${OFF}` : message;
  }
}

function isSha(sha: string): boolean {
  return /^[0-9a-fA-F]{4,64}$/.test(sha);
}
