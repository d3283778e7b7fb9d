// The task's connections to the outside: the remote cache store and GitHub
// commit statuses. Both are opened on first use, so a task that needs neither
// never loads the AWS SDK or octokit.
import { loadRemote } from "../load-remote";
import type { TaskContext } from "../task/context";
import type { RemoteCache, CommitStatusClient, StatusRequest } from "../remote";

export class Reporting {
  private cache: Promise<RemoteCache | null> | null = null;
  private github: Promise<CommitStatusClient | null> | null = null;
  private sha: Promise<string | null> | null = null;

  constructor(private readonly ctx: TaskContext) {}

  remoteCache(): Promise<RemoteCache | null> {
    this.cache ??= loadRemote().then((m) => m.openRemoteCache(this.ctx.config, this.ctx.out, this.ctx.paths.buildDir));
    return this.cache;
  }

  private commitStatus(): Promise<CommitStatusClient | null> {
    if (!this.ctx.config.enableCommitStatus) return Promise.resolve(null);
    // The task's interruption stops a request in flight (a slow API), not only what follows it.
    this.github ??= loadRemote().then((m) =>
      m.openCommitStatus(this.ctx.config, this.ctx.paths, this.ctx.out, { signal: this.ctx.interruption.signal }),
    );
    return this.github;
  }

  private commit(): Promise<string | null> {
    this.sha ??= import("../hash").then((m) => m.headCommit(this.ctx.cwd, this.ctx.env));
    return this.sha;
  }

  /** The toplevel fetches the GitHub token once, before any task reports. */
  async beforeStart(): Promise<void> {
    if (!this.ctx.isToplevel || !this.ctx.config.enableCommitStatus) return;
    const { prefetchToken } = await loadRemote();
    await prefetchToken(this.ctx.config, this.ctx.paths, this.ctx.out);
  }

  async status(
    state: StatusRequest["state"],
    description: string | null,
    targetUrl: string | null = null,
  ): Promise<void> {
    const client = await this.commitStatus();
    const sha = client ? await this.commit() : null;
    if (!client || !sha) return;
    await client.post(sha, { context: this.ctx.job, description, state, target_url: targetUrl });
  }

  /** Log upload, then the final commit status (docs/contract.md §9). */
  async afterTask(code: number, task: { commitStatus: boolean; skipped: boolean }): Promise<void> {
    const { config, interruption } = this.ctx;
    let logUrl: string | null = null;
    // Interrupted once the result was recorded: what is left of the report is skipped.
    if (config.uploadLogs && !interruption.by) {
      const cache = await this.remoteCache();
      if (cache) {
        const uploaded = await cache.uploadLog(
          this.ctx.paths.buildId,
          this.ctx.job,
          this.ctx.paths.logFile(this.ctx.job),
          { signal: interruption.signal },
        );
        if ("url" in uploaded) logUrl = uploaded.url;
        else if ("failed" in uploaded) this.ctx.out.say({ kind: "log-not-uploaded", message: uploaded.failed });
      } else {
        this.ctx.out.say({ kind: "log-not-uploaded", message: null });
      }
    }
    const client = await this.commitStatus();
    if (!client || interruption.by) return;
    const sha = await this.commit();
    if (!sha) return;
    // A failure always shows; a success shows for --commit-status tasks that ran,
    // or where a status already exists (so a rerun turns red green).
    const report = (task.commitStatus && !task.skipped) || code !== 0 || (await client.hasStatus(sha, this.ctx.job));
    if (report) await this.status(code === 0 ? "success" : "failure", null, logUrl);
  }
}
