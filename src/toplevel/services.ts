// What the toplevel serves its build while its task runs: warm hashes for
// nested taskrunner processes (hash-service.ts) and nested tasks run in this
// process (nested-server.ts).
import type { Config, Env } from "../config";
import type { ProcessHost, RunHeld } from "../task/context";
import { serveHashing } from "./hash-service";
import { serveNested } from "./nested-server";
import { INTERNAL } from "../internal-env";
import type { Interruption } from "../sys/signals";

/**
 * run: how the runner runs a task whose job lock is held; nested tasks served here run through it.
 * interruption: the toplevel task's; once it came, no nested task starts here.
 */
export function startServices(
  host: ProcessHost,
  run: RunHeld,
  config: Config,
  env: Env,
  debug: (m: string) => void,
  interruption: Interruption,
) {
  const taskEnv: Record<string, string> = {};
  const hashing = serveHashing(`${host.paths.buildDir}/hash-service`, env, debug);
  if (hashing) taskEnv[INTERNAL.hashService] = hashing.path;
  const nested = config.nestedProcesses ? null : serveNested(host, run, env, debug, interruption);
  if (nested) Object.assign(taskEnv, nested.env);
  return {
    env: taskEnv,
    async stop(): Promise<void> {
      await nested?.stop();
      hashing?.stop();
    },
  };
}
