// The contracts between the runner and the outside services: the remote cache
// store (issue #4) and GitHub commit statuses (issue #5). Until those land,
// opening either says once that the feature is not available in this build and
// the task goes on as if nothing were configured (a cache miss, no status).
import type { Config } from "./config";

export type RestoreOutcome = { kind: "restored" } | { kind: "miss" } | { kind: "failed"; message: string };
export type SaveOutcome = { kind: "saved" } | { kind: "failed"; message: string };

export interface RemoteCache {
  readonly description: string;
  restoreArchive(archiveName: string, root: string, opts?: { onFound?: () => void }): Promise<RestoreOutcome>;
  saveArchive(archiveName: string, root: string, outputs: string[]): Promise<SaveOutcome>;
  getLatestHash(job: string, branch: string): Promise<string | null>;
  setLatestHash(job: string, branch: string, hash: string): Promise<void>;
  uploadLog(buildId: string, job: string, logPath: string): Promise<{ url: string } | { failed: string }>;
}

export interface StatusRequest {
  context: string;
  description: string | null;
  state: "pending" | "success" | "failure" | "error";
  target_url: string | null;
}

export interface CommitStatusClient {
  post(sha: string, req: StatusRequest): Promise<void>;
  hasStatus(sha: string, context: string): Promise<boolean>;
}

export interface Log {
  warn(msg: string): void;
  debug(msg: string): void;
}

/** `<job>[-<cache version>]-<hash>.tar.zst` (SPEC §8). */
export function archiveName(job: string, cacheVersion: string | null, hash: string): string {
  return `${job}${cacheVersion ? `-${cacheVersion}` : ""}-${hash}.tar.zst`;
}

export function openRemoteCache(config: Config, log: Log, _buildDir: string): RemoteCache | null {
  if (config.remoteCacheDir || config.s3.bucket) {
    log.warn("the remote cache is not available in this build of taskrunner yet; running as on a cache miss");
  }
  return null;
}

export function openCommitStatus(config: Config, _stateDir: string, log: Log): CommitStatusClient | null {
  if (config.enableCommitStatus) log.warn("GitHub commit statuses are not available in this build of taskrunner yet");
  return null;
}

export async function prefetchToken(_config: Config, _stateDir: string, _log: Log): Promise<void> {}
