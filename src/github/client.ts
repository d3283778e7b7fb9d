// Commit statuses for one repository: POST a status, look for an existing one.
// Authorised calls retry once with a new token when GitHub answers 401: a
// token can die before the expiry GitHub reported (revoked, clock skew).
import type { CommitStatusClient, Log, StatusRequest } from "./index";
import type { GithubSettings } from "./settings";
import { callApi, type ApiRequest, type ApiResult, type HttpPolicy } from "./http";
import type { TokenStore } from "./token";
import { describeError, type Secrets } from "./redact";

export const REFRESH_WARNING = "GitHub API returned 401, force-refreshing token and retrying...";

/** Enough pages for any real commit (GitHub keeps at most 1000 statuses per context and sha). */
const MAX_STATUS_PAGES = 10;
/** GitHub refuses longer descriptions with a 422; better a shortened one than none. */
const MAX_DESCRIPTION = 140;

export class GithubStatusClient implements CommitStatusClient {
  private readonly repoPath: string;

  constructor(
    private readonly settings: GithubSettings,
    private readonly tokens: TokenStore,
    private readonly policy: HttpPolicy,
    private readonly log: Log,
    private readonly secrets: Secrets,
  ) {
    this.repoPath = `/repos/${settings.owner}/${settings.repo}`;
  }

  async post(sha: string, req: StatusRequest): Promise<void> {
    const what = `Commit status ${req.state} for ${req.context} not posted`;
    try {
      if (!isSha(sha)) return this.log.warn(`${what}: ${JSON.stringify(sha)} is not a commit id`);
      const description =
        req.description !== null && req.description.length > MAX_DESCRIPTION
          ? `${req.description.slice(0, MAX_DESCRIPTION - 1)}…`
          : req.description;
      // Exactly these keys in this order, nulls spelled out: the body GitHub
      // (and the old tool's golden tests) see.
      const body = JSON.stringify({ context: req.context, description, state: req.state, target_url: req.target_url });
      const result = await this.authorized({
        method: "POST",
        url: `${this.settings.apiUrl}${this.repoPath}/statuses/${sha}`,
        label: `POST ${this.repoPath}/statuses/${sha}`,
        body,
        hints: {
          403: 'check that the GitHub App has the "Commit statuses: write" permission',
          404: `check GITHUB_REPOSITORY/GITHUB_REPOSITORY_OWNER (${this.settings.owner}/${this.settings.repo}) and that the GitHub App is installed there`,
        },
      });
      if (result.kind === "ok") this.log.debug(`Posted commit status ${req.state} for ${req.context} on ${sha}`);
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
      const origin = new URL(this.settings.apiUrl).origin;
      let url: string | null = `${this.settings.apiUrl}${this.repoPath}/commits/${sha}/statuses?per_page=100`;
      for (let page = 1; url !== null && page <= MAX_STATUS_PAGES; page++) {
        const result: ApiResult = await this.authorized({
          method: "GET",
          url,
          label: `GET ${this.repoPath}/commits/${sha}/statuses`,
          hints: { 404: `check GITHUB_REPOSITORY/GITHUB_REPOSITORY_OWNER (${this.settings.owner}/${this.settings.repo})` },
        });
        if (result.kind !== "ok") {
          this.log.warn(`${what}: ${result.message}`);
          return false;
        }
        if (!Array.isArray(result.json)) {
          this.log.warn(`${what}: GitHub's answer is not a list of statuses`);
          return false;
        }
        if (result.json.some((s) => (s as { context?: unknown } | null)?.context === context)) return true;
        url = nextPage(result.headers.get("link"));
        // Never send the token anywhere but the configured API.
        if (url !== null && new URL(url).origin !== origin) url = null;
      }
      return false;
    } catch (e) {
      this.log.warn(`${what}: ${describeError(e)}`);
      return false;
    }
  }

  private readonly scrub = (m: string) => this.secrets.scrub(m);

  private async authorized(req: Omit<ApiRequest, "authorization">): Promise<ApiResult> {
    const first = await this.tokens.token();
    if (first.kind === "failed") return { kind: "failed", message: `no GitHub installation token: ${first.message}` };
    const result = await callApi({ ...req, authorization: `Bearer ${first.token}` }, this.policy, this.log, this.scrub);
    if (result.kind !== "unauthorized") return result;
    this.log.warn(REFRESH_WARNING);
    const second = await this.tokens.replace(first.token);
    if (second.kind === "failed") return { kind: "failed", message: `no new GitHub installation token: ${second.message}` };
    const retried = await callApi({ ...req, authorization: `Bearer ${second.token}` }, this.policy, this.log, this.scrub);
    if (retried.kind !== "unauthorized") return retried;
    return {
      kind: "failed",
      message: `GitHub API answered 401 to ${req.label} even with a new token (${retried.message}); check that the GitHub App is installed on ${this.settings.owner}/${this.settings.repo}`,
    };
  }
}

function isSha(sha: string): boolean {
  return /^[0-9a-fA-F]{4,64}$/.test(sha);
}

/** The rel="next" URL of a Link header, as GitHub paginates. */
function nextPage(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return m[1];
  }
  return null;
}
