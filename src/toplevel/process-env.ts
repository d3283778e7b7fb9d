// The environment variables code in this process may read from its own
// environment rather than from a task's: git's (GIT_*, HOME, XDG_CONFIG_HOME),
// the AWS SDK's credential chain, fetch's proxies and CAs, the clock's zone.
// Work done in the toplevel for a caller whose values of these differ could
// differ from the caller's own. Hashing takes git's environment as an
// argument (src/hash/git.ts GitEnv): the hashing service hashes with the
// caller's values, and the nested-task server serves a caller whose GIT_*
// variables differ; for the others it declines.
import type { Env } from "../config";

export function readsFromProcess(name: string): boolean {
  return (
    name.startsWith("GIT_") ||
    name.startsWith("AWS_") ||
    /^(HOME|XDG_CONFIG_HOME|TZ|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/.test(name) ||
    /^(https?|all|no)_proxy$/i.test(name)
  );
}

/** Those variables of env (enumerating process.env is slow: take it once per process). */
export function processVariables(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in env) {
    const value = env[name];
    if (value !== undefined && readsFromProcess(name)) out[name] = value;
  }
  return out;
}

/**
 * Where caller (a whole environment, or its processVariables) and own
 * (processVariables) disagree on one of them that code in this process reads
 * (GIT_* variables aside): a line naming the variable (not its values, which
 * may be secrets), or null when they agree on all.
 */
export function processEnvironmentDifference(caller: Env, own: Record<string, string>): string | null {
  for (const name in caller) {
    if (readsFromProcess(name) && !onlyGitReads(name) && caller[name] !== own[name]) {
      return differs(name, own[name] === undefined ? "set only for the caller" : "");
    }
  }
  for (const name in own) {
    if (!onlyGitReads(name) && caller[name] !== own[name])
      return differs(name, caller[name] === undefined ? "set only for the toplevel" : "");
  }
  return null;
}

/** Read by git alone: every git run for a task is given the task's environment (src/hash/git.ts). */
function onlyGitReads(name: string): boolean {
  return name.startsWith("GIT_");
}

function differs(name: string, how: string): string {
  return (
    `${name} differs between the caller and the toplevel${how ? ` (${how})` : ""}, ` +
    "and this process's own code reads it"
  );
}

/** env without those variables: the rest of an environment, to which a caller's processVariables are added. */
export function withoutProcessVariables(env: Env): Env {
  const out: Env = {};
  for (const name in env) if (!readsFromProcess(name)) out[name] = env[name];
  return out;
}
