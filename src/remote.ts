// The contracts between the runner and the outside services, imported lazily
// by the runner: the remote cache store (src/cache) and GitHub commit
// statuses (src/github).
export type { RemoteCache, RestoreOutcome, SaveOutcome } from "./cache";
export { openRemoteCache, archiveName } from "./cache";
export type { StatusRequest, CommitStatusClient } from "./github";
export { openCommitStatus, prefetchToken } from "./github";
