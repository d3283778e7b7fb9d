// The GitHub API through the octokit stack: @octokit/core with
// @octokit/plugin-retry (unreachable, 5xx and 429 answers are tried again with
// a short backoff) and @octokit/auth-app (the App's JWT, the installation
// token, GitHub's clock-skew and token-replication quirks). What we add: a
// deadline per request, an answer as a value in plain words, and every
// credential we send known to the scrubber before an answer can echo it.
//
// A commit status is a courtesy to the people watching CI: it must never stall
// or fail a build. So a request that times out is not tried again (the caller
// switches statuses off for the build), and nothing here throws.
import { Octokit } from "@octokit/core";
import { retry } from "@octokit/plugin-retry";
import { createAppAuth } from "@octokit/auth-app";
import type { HttpPolicy } from "./types";
import type { Log } from "../sys/log";
import type { GithubSettings } from "./settings";
import type { Secrets } from "./redact";
import { describeError } from "../sys/errors";

export type ApiResult =
  | { kind: "ok"; data: unknown }
  | { kind: "unauthorized"; message: string }
  | { kind: "timeout"; message: string }
  | { kind: "failed"; message: string };

/** What a 4xx/5xx answer suggests to check, by status. */
export type Hints = Partial<Record<number, string>>;

/** auth-app's cache: kept by TokenStore, which shares the token through the flocked file. */
export interface TokenCacheHook {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** Answers plugin-retry does not try again (its defaults); everything else ≥ 400 it does. */
const DO_NOT_RETRY = [400, 401, 403, 404, 410, 422, 451];

/**
 * @octokit/request passes an error named AbortError through as it is, and
 * plugin-retry only retries its own RequestErrors: so a timeout reaches us
 * unwrapped and untried again.
 */
class Timeout extends Error {
  override name = "AbortError";
}

/** The task was interrupted: passed through untried again, like Timeout. */
class Interrupted extends Error {
  override name = "AbortError";
}

/** Status codes whose Response must have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export class GithubApi {
  private readonly octokit: Octokit;
  private readonly origin: string;

  constructor(
    private readonly settings: GithubSettings,
    private readonly policy: HttpPolicy,
    cache: TokenCacheHook,
    log: Log,
    private readonly secrets: Secrets,
    private readonly interrupt?: AbortSignal,
  ) {
    this.origin = new URL(settings.apiUrl).origin;
    // Octokit's and auth-app's own notes (a deprecation, a clock-skew retry) are debug lines here.
    const quiet = { debug: log.debug, info: log.debug, warn: log.debug, error: log.debug };
    const WithRetry = Octokit.plugin(retry);
    this.octokit = new WithRetry({
      baseUrl: settings.apiUrl,
      userAgent: "taskrunner",
      log: quiet,
      request: { fetch: this.fetchWithDeadline, log: quiet },
      retry: { retries: policy.retries, retryAfterBaseValue: policy.backoffMs, doNotRetry: DO_NOT_RETRY },
      authStrategy: createAppAuth,
      auth: {
        appId: settings.appId,
        privateKey: settings.privateKeyPkcs8,
        installationId: settings.installationId,
        cache,
        // auth-app backdates the JWT's iat by 30 s; 30 s more for a machine
        // whose clock runs ahead of GitHub's (exp stays within GitHub's 10 minutes).
        timeDifference: -30,
        log: quiet,
      },
    });
    // plugin-retry counts attempts in options.request, an object @octokit/endpoint
    // shares between all requests that bring none of their own: without a copy
    // per request, each retried request makes the next one's pauses longer
    // (4 s, then 9 s, … instead of 0.25 s and 1 s).
    this.octokit.hook.before("request", (options) => {
      options.request = { ...options.request };
    });
  }

  /** `route` as octokit spells it ("POST /repos/{owner}/{repo}/statuses/{sha}"); `label` names the call in messages. */
  async call(route: string, params: Record<string, unknown>, label: string, hints: Hints = {}): Promise<ApiResult> {
    try {
      const res = await this.octokit.request(route, { ...params, headers: { "x-github-api-version": "2022-11-28" } });
      // A redirect (a renamed repository) comes back as an answer: reported, never followed.
      if (res.status < 200 || res.status > 299)
        return {
          kind: "failed",
          message: `GitHub API answered ${res.status} to ${label}${hintFor(hints, res.status)}`,
        };
      return { kind: "ok", data: res.data };
    } catch (e) {
      return this.failure(e, label, hints);
    }
  }

  /** A new installation token: auth-app signs the JWT and asks GitHub. */
  async newInstallationToken(): Promise<
    { kind: "ok"; token: string; expiresAt: string | undefined } | Exclude<ApiResult, { kind: "ok" }>
  > {
    const id = this.settings.installationId;
    const label = `POST /app/installations/${id}/access_tokens`;
    try {
      const auth = (await this.octokit.auth({ type: "installation", refresh: true })) as {
        token?: unknown;
        expiresAt?: unknown;
      };
      if (typeof auth.token !== "string" || auth.token === "")
        return { kind: "failed", message: `GitHub's answer to ${label} has no token` };
      this.secrets.add(auth.token);
      return {
        kind: "ok",
        token: auth.token,
        expiresAt: typeof auth.expiresAt === "string" ? auth.expiresAt : undefined,
      };
    } catch (e) {
      const failure = this.failure(e, label, {
        403: "check that the GitHub App may access this installation",
        404: `check GITHUB_INSTALLATION_ID=${id} (is the GitHub App installed there?)`,
      });
      if (failure.kind !== "unauthorized") return failure;
      const message =
        `GitHub rejected the app's JWT (401: ${failure.message}); ` +
        "check GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and the machine's clock";
      return { kind: "failed", message };
    }
  }

  // One deadline for the whole exchange, body included: a server that sends
  // headers and then stalls must not hang the runner either. Every credential
  // is known to the scrubber before it leaves.
  private readonly fetchWithDeadline = async (
    url: string | URL | Request,
    init: RequestInit = {},
  ): Promise<Response> => {
    const authorization = new Headers(init.headers).get("authorization");
    if (authorization) this.secrets.add(authorization.replace(/^\S+\s+/, ""));
    const deadline = AbortSignal.timeout(this.policy.timeoutMs);
    const signal = this.interrupt ? AbortSignal.any([deadline, this.interrupt]) : deadline;
    try {
      // Never follow a redirect: the Authorization header goes nowhere but the configured API.
      const res = await fetch(url, { ...init, signal, redirect: "manual" });
      const body = await res.arrayBuffer();
      return new Response(NULL_BODY.has(res.status) ? null : body, {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    } catch (e) {
      if (this.interrupt?.aborted) throw new Interrupted("the task was interrupted");
      if (deadline.aborted)
        throw new Timeout(`GitHub API at ${this.origin} did not answer within ${this.policy.timeoutMs / 1000} s`);
      throw e;
    }
  };

  private failure(e: unknown, label: string, hints: Hints): Exclude<ApiResult, { kind: "ok" }> {
    if (e instanceof Timeout) return { kind: "timeout", message: e.message };
    if (e instanceof Interrupted) return { kind: "failed", message: e.message };
    const http = e as {
      name?: unknown;
      status?: unknown;
      response?: { data?: unknown; headers?: Record<string, string> };
      cause?: unknown;
    };
    if (http?.name !== "HttpError" || typeof http.status !== "number") {
      // Not an answer: a key the signer refused, a bug. Scrubbed: it may quote what it could not use.
      return { kind: "failed", message: this.secrets.scrub(describeError(e)) };
    }
    const attempts = this.policy.retries + 1;
    const gaveUp = `gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}`;
    if (!http.response) {
      // @octokit/request's wrapper of a network error (status 500, no answer), retried.
      const reason = describeError(http.cause ?? e);
      return { kind: "failed", message: `GitHub API at ${this.origin} is unreachable (${reason}); ${gaveUp}` };
    }
    const { status } = http;
    const headers = http.response.headers ?? {};
    const message = githubMessage(http.response.data, (s) => this.secrets.scrub(s));
    if (status === 401) return { kind: "unauthorized", message };
    const limit = rateLimit(status, headers, message);
    if (limit) return { kind: "failed", message: `GitHub API rate limit exceeded for ${label} (${limit}): ${message}` };
    const retried = !DO_NOT_RETRY.includes(status) && attempts > 1 ? `; ${gaveUp}` : "";
    return {
      kind: "failed",
      message: `GitHub API answered ${status} to ${label}: ${message}${retried}${hintFor(hints, status)}`,
    };
  }
}

function hintFor(hints: Hints, status: number): string {
  const hint = hints[status];
  return hint ? `; ${hint}` : "";
}

/**
 * GitHub's `message` (plus validation details), or the start of a non-JSON
 * body. `scrub` runs before the message is shortened: a cut-off secret could
 * no longer be recognised.
 */
function githubMessage(data: unknown, scrub: (s: string) => string): string {
  let message: string;
  const json = data as { message?: unknown; errors?: unknown } | null | undefined;
  if (json && typeof json === "object" && typeof json.message === "string") {
    message = json.message;
    if (Array.isArray(json.errors)) {
      const details = json.errors
        .map((e) => (typeof e === "string" ? e : typeof e?.message === "string" ? e.message : null))
        .filter(Boolean);
      if (details.length) message += ` (${details.join("; ")})`;
    }
  } else if (typeof data === "string") {
    message = data.trim() || "(empty body)";
  } else if (data instanceof ArrayBuffer) {
    message = new TextDecoder().decode(data).trim() || "(empty body)";
  } else {
    message = "(empty body)";
  }
  message = scrub(message).replace(/\s+/g, " ");
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

/**
 * How a rate limit is described, or null when the answer is not one. GitHub
 * signals one with 429, or with 403 plus `x-ratelimit-remaining: 0` (primary
 * limit) or `retry-after` (secondary limit); a 403 without them is a
 * permission problem. Statuses never wait for a limit to lift.
 */
function rateLimit(status: number, headers: Record<string, string>, message: string): string | null {
  const retryAfter = headers["retry-after"];
  const remaining = headers["x-ratelimit-remaining"];
  const reset = headers["x-ratelimit-reset"];
  const limited =
    status === 429 ||
    (status === 403 && (retryAfter !== undefined || remaining === "0" || /rate limit/i.test(message)));
  if (!limited) return null;
  if (retryAfter !== undefined && /^\d+$/.test(retryAfter.trim())) return `retry after ${retryAfter.trim()} s`;
  if (remaining === "0" && reset !== undefined && /^\d+$/.test(reset.trim())) {
    return `resets in ${Math.max(0, Math.ceil(Number(reset.trim()) - Date.now() / 1000))} s`;
  }
  return "no reset time given";
}
