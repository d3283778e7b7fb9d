// Entry point: argv → what to do. The only place that calls process.exit.
import { parseCommandLine, renderHelp, SHORT_USAGE } from "./cli";
import { VERSION } from "./version";
import { describeError } from "./sys/errors";
import { processLine } from "./output/render";
import { ownArguments } from "./sys/bytes";

function fail(message: string, code: number): never {
  // console.* rather than process.stdout/stderr: those streams cost milliseconds to set up.
  console.error(processLine(message));
  process.exit(code);
}

/** The configuration, or exit 2 with the line naming the bad variable. Loaded here: --version and --help stay cheap. */
async function configOrExit() {
  const { loadConfig, ConfigError } = await import("./config");
  try {
    return loadConfig(process.env, process.cwd());
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
}

async function main(): Promise<never> {
  const cli = await parseCommandLine(ownArguments());
  switch (cli.kind) {
    case "version":
      console.log(`taskrunner ${VERSION}`);
      process.exit(0);
    case "help":
      console.log(await renderHelp());
      process.exit(0);
    case "explain": {
      const { explainLatest } = await import("./trace/explain");
      const result = await explainLatest((await configOrExit()).stateDirectory, cli.name);
      if (!result.ok) fail(result.error, 1);
      console.log(result.text);
      process.exit(0);
    }
    case "usage-error":
      fail(`${cli.message}; usage: ${cli.usage ?? SHORT_USAGE} (see --help)`, 2);
    case "prune-cache": {
      const config = await configOrExit();
      const [{ loadRemote }, { writeAll }] = await Promise.all([import("./load-remote"), import("./sys/libc")]);
      const { pruneCache } = await loadRemote();
      process.exit(await pruneCache(config, cli, (stream, line) => writeAll(stream === "out" ? 1 : 2, line)));
    }
    case "run": {
      const config = await configOrExit();
      const { runTask } = await import("./runner/runner");
      try {
        process.exit(await runTask(cli, config, process.env, process.cwd()));
      } catch (e) {
        fail(`internal error: ${describeError(e)}`, 1);
      }
    }
  }
}

main().catch((e) => fail(`internal error: ${describeError(e)}`, 1));
