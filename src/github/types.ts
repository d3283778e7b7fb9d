// The shapes shared by the GitHub modules and their callers: a status, the
// client the runner holds, the request policy. Types only, so that every
// module of src/github can import them without importing one another.

export interface StatusRequest {
  context: string;
  description: string | null;
  state: "pending" | "success" | "failure" | "error";
  target_url: string | null;
}

export interface CommitStatusClient {
  /** Never throws; a fault is one warn line. */
  post(sha: string, req: StatusRequest): Promise<void>;
  /** Whether a status with this context exists on the commit; a fault is false plus one warn line. */
  hasStatus(sha: string, context: string): Promise<boolean>;
}

export interface HttpPolicy {
  /** Per attempt, connection to last byte. */
  timeoutMs: number;
  /** Extra attempts after the first, for unreachable/5xx/429 answers. */
  retries: number;
  /** The first pause between attempts; the second is 4× (plugin-retry's (n+1)² steps). */
  backoffMs: number;
}

/** Timeouts and retries; the defaults suit GitHub, tests shorten them. */
export interface ClientOptions extends Partial<HttpPolicy> {
  /** Longest wait for another process holding the token cache lock. */
  lockTimeoutMs?: number;
  /** The task's interruption: stops the request in flight, and what is left is skipped (a debug line). */
  signal?: AbortSignal;
}

/** Where the token is shared (the state directory) and the build's fault budget is kept (its directory). */
export interface Places {
  stateDir: string;
  buildDir: string;
}
