// Cache uploads that run while the build goes on. A nested task the toplevel
// serves in its own process (nested-server.ts) hands its upload here once its
// outputs' metadata is taken, and its caller carries on at once: compressing
// and sending the archive overlaps with the next tasks. The toplevel waits
// for what is still running before its build ends — for at most
// TASKRUNNER_UPLOAD_WAIT_SECONDS, then stops the rest and says so in one line
// — and a signal to the toplevel stops them all (each says so in one line):
// the store keeps no temporary file and no multipart upload.
import { endsWithin } from "../sys/time";
import { describeError } from "../sys/errors";

/** The reason uploads are stopped when the build's end has waited long enough: the toplevel says it once for all. */
export class WaitedTooLong extends Error {}

/** One upload: resolves when it is done, whatever its outcome (it reports its own faults). */
export type Upload = (signal: AbortSignal) => Promise<void>;

export class BackgroundUploads {
  private readonly running = new Map<Promise<void>, string>();
  private readonly controller = new AbortController();

  /**
   * Starts `upload` for `job` now. An upload reports its own failures; one that throws is a bug,
   * said to debug (the job's log), and the others go on.
   */
  add(job: string, upload: Upload, debug: (message: string) => void): void {
    const done: Promise<void> = upload(this.controller.signal)
      .catch((e) => debug(`The background upload of ${job} failed: ${describeError(e)}`))
      .finally(() => this.running.delete(done));
    this.running.set(done, job);
  }

  /** Stops every upload (a signal came, or the wait is over). */
  abort(reason: Error): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /**
   * Waits for the uploads still running, at most `ms`; then stops them and
   * waits for them to clean up. Returns the jobs whose uploads were cut short.
   */
  async settle(ms: number): Promise<string[]> {
    if (this.running.size === 0) return [];
    const all = () => Promise.all([...this.running.keys()]);
    if (await endsWithin(all(), ms)) return [];
    const cut = [...new Set(this.running.values())];
    this.abort(new WaitedTooLong(`the build's end waited ${ms / 1000} s for it`));
    await all();
    return cut;
  }
}
