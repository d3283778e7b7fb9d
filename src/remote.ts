// The contracts between the runner and the outside services: the remote cache
// store and GitHub commit statuses (src/github). Imported lazily by the runner.
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

export type { StatusRequest, CommitStatusClient } from "./github";
export { openCommitStatus, prefetchToken } from "./github";

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

