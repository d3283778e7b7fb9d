// A build-wide failure budget for an outside service (the remote cache store,
// the GitHub API). A build is many processes (nested taskrunners), so the
// count lives in a small file in the build's directory: each fault appends one
// line. Once it reaches the limit, the process that gets to create the "off"
// marker says so (once per build), and every process stops calling the service
// for the rest of the build — a dead or throttling service then costs a build
// a few timeouts, not one per task.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Log } from "../sys/log";
import { describeError } from "../sys/errors";

export const FAILURE_LIMIT = 3;

export class FailureGate {
  private readonly countFile: string;
  private readonly marker: string;

  /** `service` names the files: builds/<id>/<service>-failures and <service>-disabled. */
  constructor(
    buildDir: string,
    service: "remote-cache" | "github",
    private readonly label: string,
    private readonly log: Log,
    private readonly limit = FAILURE_LIMIT,
  ) {
    this.countFile = join(buildDir, `${service}-failures`);
    this.marker = join(buildDir, `${service}-disabled`);
  }

  /** True once the build has given up on the service. */
  get closed(): boolean {
    return existsSync(this.marker);
  }

  /**
   * Counts one fault. True when this one switched the service off for the
   * build: the caller then says so, in the same warning line as the fault.
   */
  record(message: string): boolean {
    return this.count(message, false);
  }

  /** A fault after which calling again is pointless (a timeout): off at once. True as for record(). */
  close(message: string): boolean {
    return this.count(message, true);
  }

  private count(message: string, final: boolean): boolean {
    try {
      mkdirSync(dirname(this.countFile), { recursive: true });
      // One short line per fault, appended (O_APPEND), so concurrent tasks never lose a count.
      appendFileSync(
        this.countFile,
        `${new Date().toISOString()}\t${this.label}\t${message.replace(/\s+/g, " ").slice(0, 300)}\n`,
      );
      if (!final && readFileSync(this.countFile, "utf8").split("\n").filter(Boolean).length < this.limit) return false;
      // Exclusive create: of all the processes that get here, one says it.
      writeFileSync(this.marker, `${this.label}\n`, { flag: "wx" });
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST")
        this.log.debug(`could not count a failure of ${this.label} in ${this.countFile}: ${describeError(e)}`);
      return false;
    }
  }
}
