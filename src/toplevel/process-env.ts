// The environment variables this process's own code reads from process.env
// rather than from a task's environment: git discovery and configuration
// (src/hash), the AWS SDK's credential chain, fetch's proxies and CAs, the
// clock's zone. Work done in the toplevel for a caller whose values of these
// differ could differ from the caller's own: both the hashing service and the
// nested-task server decline then.
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
 * (processVariables) disagree on one of them: a line naming the variable (not
 * its values, which may be secrets), or null when they agree on all.
 */
export function processEnvironmentDifference(caller: Env, own: Record<string, string>): string | null {
  for (const name in caller) if (readsFromProcess(name) && caller[name] !== own[name]) return differs(name, own[name] === undefined ? "set only for the caller" : "");
  for (const name in own) if (caller[name] !== own[name]) return differs(name, caller[name] === undefined ? "set only for the toplevel" : "");
  return null;
}

function differs(name: string, how: string): string {
  return `${name} differs between the caller and the toplevel${how ? ` (${how})` : ""}, and this process's own code reads it`;
}

/** The first GIT_* variable among them, if any: git itself may then see another repository or configuration. */
export function gitVariable(variables: Record<string, string>): string | null {
  for (const name in variables) if (name.startsWith("GIT_")) return name;
  return null;
}
