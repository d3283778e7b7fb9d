// `taskrunner --explain NAME`: why NAME last ran, from its newest task record.
import { readText } from "../sys/libc";
import type { TaskRecord } from "./recorder";
import { parseTaskRecord } from "./write";

const OUTCOME_TEXT: Record<TaskRecord["outcome"], string> = {
  ran: "ran",
  failed: "ran and failed",
  skipped: "was skipped (inputs unchanged)",
  "restored-exact": "was restored from the remote cache",
  "restored-fuzzy": "restored a fuzzy cache, then ran",
  interrupted: "was interrupted",
};

export async function explainLatest(
  stateDir: string,
  name: string,
): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  const fs = await import("node:fs");
  let builds: string[];
  try {
    builds = fs.readdirSync(`${stateDir}/builds`).sort().reverse();
  } catch {
    return { ok: false, error: `no builds in ${stateDir} (set TASKRUNNER_STATE_DIRECTORY to the one your builds use)` };
  }
  for (const id of builds) {
    const text = readText(`${stateDir}/builds/${id}/tasks/${name}.json`);
    if (text === null) continue;
    // Checked as the trace checks records (they may come from another taskrunner version).
    const record = parseTaskRecord(text);
    if (typeof record === "string") continue;
    const lines = [
      `${name} ${OUTCOME_TEXT[record.outcome]} in build ${id} ` +
        `(exit code ${record.exitCode}, ${((record.end - record.start) / 1000).toFixed(2)}s)`,
    ];
    if (record.explain?.length) {
      lines.push("It did not skip because:");
      for (const l of record.explain) lines.push(`  - ${l}`);
    } else if (record.outcome === "ran" || record.outcome === "failed") {
      lines.push("It declared no inputs with snapshot, so it always runs.");
    }
    if (record.notes?.length) {
      lines.push("Notes:");
      for (const l of record.notes) lines.push(`  - ${l}`);
    }
    return { ok: true, text: lines.join("\n") };
  }
  return { ok: false, error: `no recorded run of ${JSON.stringify(name)} in ${stateDir}/builds` };
}
