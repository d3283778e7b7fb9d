// Loads src/present.ts on first use: the presenters (TASKRUNNER_OUTPUT) and the
// build summary (TASKRUNNER_STEP_SUMMARY), a separate entry point of the
// compiled binary (build.ts), as load-remote.ts loads remote.ts. A build with
// none of these settings never loads it.
type Present = typeof import("./present");

let present: Promise<Present> | null = null;
const PRESENT = "./present.ts";

export function loadPresent(): Promise<Present> {
  present ??= import(PRESENT) as Promise<Present>;
  return present;
}
