// How a build is shown beyond the old tool's plain lines: the presenters of
// TASKRUNNER_OUTPUT (github, progress) and the build summary
// (TASKRUNNER_STEP_SUMMARY). A lazily loaded entry point of the compiled
// binary (build.ts, load-present.ts): a build with none of these settings
// never loads this code.
import { appendFileSync } from "node:fs";
import { isatty } from "node:tty";
import type { Config } from "./config";
import type { Terminal } from "./output/output";
import type { Presenter } from "./output/presenter";
import { GithubPresenter } from "./output/github";
import { ProgressPresenter } from "./output/progress";
import type { TaskRecord } from "./trace/record";
import { buildSummary, summaryMarkdown } from "./trace/step-summary";
import { errnoText, writeFileAtomic } from "./sys/libc";
import { describeError } from "./sys/errors";

/**
 * The presenter TASKRUNNER_OUTPUT asks for, or null where it does not apply:
 * github outside GitHub Actions (the toplevel says so in one warn line),
 * progress when the terminal's stderr is not a terminal.
 */
export function openPresenter(config: Config, terminal: Terminal, isToplevel: boolean): Presenter | null {
  switch (config.output) {
    case "github":
      return config.githubActions ? new GithubPresenter(terminal, config.timestamps) : null;
    case "progress": {
      if (!isatty(terminal.stderrFd)) return null;
      const columns = () => process.stderr.columns || 80;
      return new ProgressPresenter(terminal, isToplevel, columns);
    }
    case "plain":
      return null;
  }
}

/**
 * builds/<id>/summary.json and summary.md, and the Markdown appended to
 * $GITHUB_STEP_SUMMARY when it is set. Returns warning lines; never throws
 * (a summary must not fail a build).
 */
export function writeBuildSummary(
  buildDir: string,
  buildId: string,
  records: TaskRecord[],
  stepSummaryFile: string | null,
): string[] {
  const summary = buildSummary(buildId, records);
  const markdown = summaryMarkdown(summary);
  const warnings: string[] = [];
  for (const [name, text] of [
    ["summary.json", `${JSON.stringify(summary, null, 2)}\n`],
    ["summary.md", markdown],
  ]) {
    const err = writeFileAtomic(`${buildDir}/${name}`, text);
    if (err) warnings.push(`Could not write ${buildDir}/${name}: ${errnoText(err)}`);
  }
  if (stepSummaryFile) {
    try {
      appendFileSync(stepSummaryFile, markdown);
    } catch (e) {
      const why = describeError(e);
      warnings.push(`Could not append the build summary to GITHUB_STEP_SUMMARY (${stepSummaryFile}): ${why}`);
    }
  }
  return warnings;
}
