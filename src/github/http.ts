// One GitHub API call with a timeout, bounded retries and a plain-words
// verdict. A commit status is a courtesy to the people watching CI: it must
// never stall or fail a build, so every answer becomes a value here, and the
// caller turns a failure into one warn line.
//
// Plain fetch rather than @octokit/request: we need per-attempt timeouts,
// our own rate-limit handling and error texts that never carry request
// headers, and fetch is built into Bun (nothing to load at start-up).
import type { Log } from "./index";
import { describeError } from "./redact";

export interface HttpPolicy {
  /** Per attempt, connection to last byte. */
  timeoutMs: number;
  /** Extra attempts after the first, for unreachable/5xx/rate-limited answers. */
  retries: number;
  /** First pause between attempts; doubled each time. */
  backoffMs: number;
  /** A rate limit that lifts within this long is waited out; a longer one fails at once. */
  maxRateLimitWaitMs: number;
}

export const DEFAULT_POLICY: HttpPolicy = { timeoutMs: 10_000, retries: 2, backoffMs: 500, maxRateLimitWaitMs: 10_000 };

export interface ApiRequest {
  method: "GET" | "POST";
  url: string;
  /** The whole Authorization header value. */
  authorization: string;
  body?: string;
  /** `POST /repos/o/r/statuses/<sha>`: how messages name the call. */
  label: string;
  /** What to suggest after a given status, e.g. 404 → which variable to check. */
  hints?: Partial<Record<number, string>>;
}

export type ApiResult =
  | { kind: "ok"; status: number; json: unknown; headers: Headers }
  | { kind: "unauthorized"; message: string }
  | { kind: "failed"; message: string };

const USER_AGENT = "taskrunner";

/**
 * `scrub` cleans GitHub's message before it is shortened: a cut-off secret
 * could no longer be recognised.
 */
export async function callApi(req: ApiRequest, policy: HttpPolicy, log: Log, scrub: (s: string) => string): Promise<ApiResult> {
  const attempts = policy.retries + 1;
  let lastProblem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const answer = await attemptOnce(req, policy);
    let waitMs = policy.backoffMs * 2 ** (attempt - 1);
    if (answer.kind === "unreachable") {
      const origin = new URL(req.url).origin;
      lastProblem = answer.timedOut
        ? `GitHub API at ${origin} did not answer within ${policy.timeoutMs / 1000} s`
        : `GitHub API at ${origin} is unreachable (${answer.reason})`;
    } else {
      const { status, headers, text } = answer;
      if (status >= 200 && status < 300) return { kind: "ok", status, json: parseJson(text), headers };
      const message = githubMessage(text, scrub);
      if (status === 401) return { kind: "unauthorized", message };
      const limit = rateLimit(status, headers, message);
      if (limit) {
        if (limit.waitMs > policy.maxRateLimitWaitMs || attempt === attempts) {
          return { kind: "failed", message: `GitHub API rate limit exceeded for ${req.label} (${limit.describe}): ${message}` };
        }
        lastProblem = `rate limited (${limit.describe})`;
        waitMs = limit.waitMs;
      } else if (status >= 500) {
        lastProblem = `GitHub API answered ${status} to ${req.label}: ${message}`;
      } else {
        // 3xx, 403, 404, 422, ...: asking again will not change the answer.
        const hint = req.hints?.[status];
        return { kind: "failed", message: `GitHub API answered ${status} to ${req.label}: ${message}${hint ? `; ${hint}` : ""}` };
      }
    }
    if (attempt < attempts) {
      log.debug(`${lastProblem}; retrying in ${waitMs} ms (attempt ${attempt + 1} of ${attempts})`);
      await Bun.sleep(waitMs);
    }
  }
  return { kind: "failed", message: `${lastProblem}; gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}` };
}

type Attempt =
  | { kind: "answer"; status: number; headers: Headers; text: string }
  | { kind: "unreachable"; reason: string; timedOut: boolean };

async function attemptOnce(req: ApiRequest, policy: HttpPolicy): Promise<Attempt> {
  // One signal for the whole exchange, body included: a server that sends
  // headers and then stalls must not hang the runner either.
  const signal = AbortSignal.timeout(policy.timeoutMs);
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: {
        Accept: "application/vnd.github+json",
        Authorization: req.authorization,
        "User-Agent": USER_AGENT,
        "X-GitHub-Api-Version": "2022-11-28",
        ...(req.body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: req.body,
      signal,
      // A redirect (a renamed repository) is reported, not followed: the
      // Authorization header must go nowhere but the configured API.
      redirect: "manual",
    });
    return { kind: "answer", status: res.status, headers: res.headers, text: await res.text() };
  } catch (e) {
    return { kind: "unreachable", reason: describeError(e), timedOut: signal.aborted };
  }
}

function parseJson(text: string): unknown {
  try {
    return text === "" ? null : JSON.parse(text);
  } catch {
    return undefined; // the caller says what it expected
  }
}

/** GitHub's `message` (plus validation details), or the start of a non-JSON body. */
function githubMessage(text: string, scrub: (s: string) => string): string {
  const json = parseJson(text) as { message?: unknown; errors?: unknown } | undefined;
  let message: string;
  if (json && typeof json === "object" && typeof json.message === "string") {
    message = json.message;
    if (Array.isArray(json.errors)) {
      const details = json.errors
        .map((e) => (typeof e === "string" ? e : typeof e?.message === "string" ? e.message : null))
        .filter(Boolean);
      if (details.length) message += ` (${details.join("; ")})`;
    }
  } else {
    message = text.trim() || "(empty body)";
  }
  message = scrub(message).replace(/\s+/g, " ");
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

interface RateLimit {
  waitMs: number;
  describe: string;
}

/**
 * GitHub signals a rate limit with 429, or with 403 plus `x-ratelimit-remaining: 0`
 * (primary limit) or `retry-after` (secondary limit). A 403 without them is a
 * permission problem and is not retried.
 */
function rateLimit(status: number, headers: Headers, message: string): RateLimit | null {
  const retryAfter = headers.get("retry-after");
  const remaining = headers.get("x-ratelimit-remaining");
  const reset = headers.get("x-ratelimit-reset");
  const limited =
    status === 429 || (status === 403 && (retryAfter !== null || remaining === "0" || /rate limit/i.test(message)));
  if (!limited) return null;
  if (retryAfter !== null && /^\d+$/.test(retryAfter.trim())) {
    const s = Number(retryAfter.trim());
    return { waitMs: s * 1000, describe: `retry after ${s} s` };
  }
  if (remaining === "0" && reset !== null && /^\d+$/.test(reset.trim())) {
    const waitMs = Math.max(0, Number(reset.trim()) * 1000 - Date.now());
    return { waitMs, describe: `resets in ${Math.ceil(waitMs / 1000)} s` };
  }
  // GitHub's advice for a secondary limit without a hint: wait at least a minute.
  return { waitMs: 60_000, describe: "no reset time given" };
}
