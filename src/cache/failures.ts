// The build-wide failure count of the remote cache. A build is many processes
// (nested taskrunners), so the count lives in a small file in the build's
// directory: each store fault appends one line. Once it reaches the limit, the
// process that gets to create the "off" marker says so (once per build), and
// every process stops calling the store for the rest of the build — a dead or
// throttling store then costs a build three timeouts, not one per task.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const FAILURE_LIMIT = 3;

export interface GateLog {
  warn(msg: string): void;
  debug(msg: string): void;
}

export class FailureGate {
  private readonly countFile: string;
  private readonly marker: string;

  constructor(
    buildDir: string,
    private readonly storeName: string,
    private readonly log: GateLog,
    private readonly limit = FAILURE_LIMIT,
  ) {
    this.countFile = join(buildDir, "remote-cache-failures");
    this.marker = join(buildDir, "remote-cache-disabled");
  }

  /** True once the build has given up on the store. */
  get closed(): boolean {
    return existsSync(this.marker);
  }

  /**
   * Counts one fault. True when this one switched the cache off for the build:
   * the caller then says so, in the same warning line as the fault itself.
   */
  record(message: string): boolean {
    try {
      mkdirSync(dirname(this.countFile), { recursive: true });
      // One short line per fault, appended (O_APPEND), so concurrent tasks never lose a count.
      appendFileSync(this.countFile, `${new Date().toISOString()}\t${this.storeName}\t${message.replace(/\s+/g, " ").slice(0, 300)}\n`);
      const count = readFileSync(this.countFile, "utf8").split("\n").filter(Boolean).length;
      if (count < this.limit) return false;
      // Exclusive create: of all the processes that see the limit, one says it.
      writeFileSync(this.marker, `${this.storeName}\n`, { flag: "wx" });
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") this.log.debug(`could not count a remote cache failure in ${this.countFile}: ${(e as Error).message}`);
      return false;
    }
  }
}
