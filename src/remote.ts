// The contracts between the runner and the outside services: the remote cache
// store (src/cache) and GitHub commit statuses (src/github). This module and
// what it imports (the AWS SDK, octokit, tar) are a second entry point of the
// compiled binary, loaded only by loadRemote(): bundled into the main entry
// they cost every start ~4.5 ms even unused.
export type { RemoteCache, RestoreOutcome, SaveOutcome } from "./cache";
export { openRemoteCache, archiveName } from "./cache";
export type { StatusRequest, CommitStatusClient } from "./github";
export { openCommitStatus, prefetchToken } from "./github";
export { pruneCache } from "./cache/prune";
