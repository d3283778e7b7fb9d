// Runs one golden case and renders what the user saw.
import { mkdtempSync, readdirSync, readFileSync, existsSync, mkdirSync, rmSync, realpathSync } from "node:fs";
import { join, dirname } from "node:path";
import { BINARY } from "./binary";
import { generateTestKeys, githubEnv, startFakeGithub, type Fault, type TestKeys } from "../fakes/github";
import type { FakeS3 } from "../fakes/s3";

/** Where a `# cache` case keeps its remote cache. */
export type Store = { kind: "fs" } | { kind: "s3"; server: FakeS3; bucket: string };

export interface Directives {
  check: string[];
  quiet: boolean;
  noToplevel: boolean;
  /** Output of parallel tasks: compare its lines sorted. */
  sort: boolean;
  env: Record<string, string>;
  /** `# github [lifetime=S] [expires-offset=S] [fail=ROUTE:STATUS[:TIMES]] [hang=ROUTE]`: a fake GitHub API for the case. */
  github: { lifetime?: number; offset?: number; faults: Fault[] } | null;
  /** `# cache` (both stores) or `# cache s3` / `# cache fs`: run against a remote cache store. */
  cache: ("fs" | "s3")[] | null;
}

/**
 * A case's directives: `#: NAME ARGS` lines among the comment lines at its
 * top (plain `#` lines are comments). A directive this harness does not know,
 * or one below the first line of the script, is an error: a case whose setup
 * were silently ignored would test something else than it says.
 */
export function parseDirectives(script: string): Directives {
  const d: Directives = {
    check: ["output"],
    quiet: false,
    noToplevel: false,
    sort: false,
    env: {},
    github: null,
    cache: null,
  };
  const lines = script.split("\n");
  const header = lines.findIndex((l) => !l.startsWith("#"));
  lines.forEach((line, i) => {
    // A directive written the old way (`# sort`) would be a comment now, and the case would quietly test something else.
    if (/^# (check|quiet|sort|cache|github|env|no toplevel)( |$)/.test(line) && (header < 0 || i < header)) {
      throw new Error(`a directive without its prefix (line ${i + 1}): ${line}; write #: ${line.slice(2)}`);
    }
    if (!line.startsWith("#:")) return;
    if (header >= 0 && i > header) throw new Error(`directive below the script's first line (line ${i + 1}): ${line}`);
    const [name, ...args] = line.slice(2).trim().split(/\s+/);
    switch (name) {
      case "check":
        d.check = args;
        break;
      case "quiet":
        d.quiet = true;
        break;
      case "sort":
        d.sort = true;
        break;
      case "cache":
        d.cache = args.length > 0 ? (args as ("fs" | "s3")[]) : ["fs", "s3"];
        break;
      case "github":
        d.github = { faults: [] };
        for (const opt of args) {
          const [key, value] = opt.split("=");
          if (key === "lifetime") d.github.lifetime = Number(value);
          else if (key === "expires-offset") d.github.offset = Number(value);
          else if (key === "fail") {
            const [route, status, times] = value.split(":");
            d.github.faults.push({
              route: route as Fault["route"],
              status: Number(status),
              ...(times ? { times: Number(times) } : {}),
            });
          } else if (key === "hang") d.github.faults.push({ route: value as Fault["route"], hang: true });
          else throw new Error(`unknown option of #: github: ${opt}`);
        }
        break;
      case "no":
        if (args.join(" ") !== "toplevel") throw new Error(`unknown directive: ${line}`);
        d.noToplevel = true;
        break;
      case "env":
        for (const kv of args) {
          const eq = kv.indexOf("=");
          if (eq <= 0) throw new Error(`#: env wants NAME=VALUE, not ${kv}`);
          d.env[kv.slice(0, eq)] = kv.slice(eq + 1);
        }
        break;
      default:
        throw new Error(`unknown directive: ${line} (known: check, quiet, sort, cache, github, env, no toplevel)`);
    }
  });
  return d;
}

export function baseEnv(dir: string): Record<string, string> {
  return {
    PATH: `${dirname(BINARY)}:${process.env.PATH}`,
    HOME: dir,
    LANG: "C.UTF-8",
    TASKRUNNER_STATE_DIRECTORY: join(dir, "state"),
    TASKRUNNER_DISABLE_TIMESTAMPS: "1",
    GIT_AUTHOR_NAME: "Test",
    GIT_AUTHOR_EMAIL: "test@example.com",
    GIT_COMMITTER_NAME: "Test",
    GIT_COMMITTER_EMAIL: "test@example.com",
    GIT_CONFIG_NOSYSTEM: "1",
    // Fixed dates make commit ids, and so every line that shows one, the same on each run.
    GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
    GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
  };
}

/** Where a checked file lives: per-build files in the (only) build's directory. */
function resolveChecked(dir: string, rel: string): string[] {
  const state = join(dir, "state");
  if (rel.startsWith("logs/") || rel.startsWith("results/")) {
    const builds = existsSync(join(state, "builds")) ? readdirSync(join(state, "builds")).sort() : [];
    return builds.map((b) => join(state, "builds", b, rel)).filter(existsSync);
  }
  if (rel.startsWith("hash/") || rel.startsWith("locks/")) return [join(state, rel)].filter(existsSync);
  return [join(dir, "work", rel)].filter(existsSync);
}

export function normalize(text: string, dir: string): string {
  return text
    .replaceAll(dir, "$TMP")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/g, "<build-id>")
    .replace(/wall time \d+\.\d+s/g, "wall time <T>s");
}

let keys: TestKeys | null = null;

const STORE_TOOL = join(import.meta.dir, "store.ts");

function storeEnv(dir: string, store: Store | null): Record<string, string> {
  if (!store) return {};
  // A case plants an object (a garbage archive, say) or lists an archive's members in whichever store it runs on.
  const tools = {
    STORE_PUT: `${process.execPath} ${STORE_TOOL} put`,
    STORE_MEMBERS: `${process.execPath} ${STORE_TOOL} members`,
    STORE_GET: `${process.execPath} ${STORE_TOOL} get`,
  };
  if (store.kind === "fs") {
    mkdirSync(join(dir, "remote"));
    return { ...tools, TASKRUNNER_REMOTE_CACHE_DIR: join(dir, "remote") };
  }
  return { ...tools, ...store.server.env(store.bucket) };
}

export async function runCase(
  script: string,
  d: Directives,
  extraEnv: Record<string, string> = {},
  store: Store | null = null,
): Promise<string> {
  // Under /tmp, not $TMPDIR, and a short name: the build's hashing socket (builds/<id>/hash-service/hash.sock)
  // fits a socket's ~100-byte path as it is, the usual case (longer ones: tests/process.test.ts).
  const dir = realpathSync(mkdtempSync("/tmp/golden-"));
  keys ??= d.github ? generateTestKeys() : null;
  const github =
    d.github && keys
      ? startFakeGithub({
          publicKey: keys.publicKey,
          tokenLifetimeSeconds: d.github.lifetime,
          expiresAtOffsetSeconds: d.github.offset,
        })
      : null;
  for (const fault of d.github?.faults ?? []) github?.fail(fault);
  if (github && keys) extraEnv = { ...githubEnv(github, keys), ...extraEnv };
  try {
    const work = join(dir, "work");
    mkdirSync(work);
    const env = {
      ...baseEnv(dir),
      ...storeEnv(dir, store),
      ...(d.quiet ? { TASKRUNNER_QUIET: "1" } : {}),
      ...d.env,
      ...extraEnv,
    };
    // One pipe for both streams, as a terminal user sees them interleaved.
    const inner = d.noToplevel ? ["bash", "-e", "-c", script] : [BINARY, "-n", "toplevel", "bash", "-e", "-c", script];
    const proc = Bun.spawn(["bash", "-c", 'exec "$@" 2>&1', "golden", ...inner], {
      cwd: work,
      env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "inherit",
    });
    const [output, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    let rendered = "";
    for (const item of d.check) {
      if (item === "github") {
        rendered += `-- github:\n${github ? github.output.map((l) => `${l}\n`).join("") : ""}`;
        continue;
      }
      if (item === "output") {
        const shown = d.sort ? `${output.split("\n").filter(Boolean).sort().join("\n")}\n` : output;
        rendered += `-- output:\n${shown}`;
        continue;
      }
      for (const file of resolveChecked(dir, item)) {
        const content = readFileSync(file, "utf8");
        rendered += `-- ${item}:\n${content}${content.endsWith("\n") || content === "" ? "" : "\n"}`;
      }
    }
    if (code !== 0) rendered += `-- exit code: ${code}\n`;
    let text = normalize(rendered, dir);
    if (store?.kind === "s3")
      text = text.replaceAll(store.bucket, "<bucket>").replaceAll(store.server.endpoint, "<s3>");
    return text;
  } finally {
    await github?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The only `info |` lines a build may print (docs/reference/output.md): the
 * contract's info messages, plus ours, each only when its own opt-in variable
 * is set. The compatibility rule: with no new variable set, a build prints
 * what the old tool printed, and its info mode stays as quiet as the old one's.
 */
export const DOCUMENTED_INFO: { text: RegExp; optIn?: string }[] = [
  { text: /^Inputs changed, running task$/ },
  { text: /^success$/ },
  { text: /^skipped, inputs unchanged$/ },
  { text: /^Found remote cache [^ ]+\.tar\.zst, restoring$/ },
  { text: /^Restored from remote cache$/ },
  { text: /^Restored fuzzy cache from branch [^ ]+, hash=[0-9a-f]{40}$/ },
  {
    text: /^Summary: \d+ tasks?: \d+ ran, \d+ skipped, \d+ restored, \d+ failed; wall time \S+s$/,
    optIn: "TASKRUNNER_SUMMARY",
  },
];

/** The terminal's `[NAME] info | …` lines that are not documented, or whose opt-in variable the case does not set. */
export function undocumentedInfoLines(output: string, optedIn: (variable: string) => boolean): string[] {
  return output.split("\n").filter((line) => {
    const m = /^\[[^\]]*\] info \| (.*)$/.exec(line);
    return m !== null && !DOCUMENTED_INFO.some((d) => d.text.test(m[1]) && (d.optIn === undefined || optedIn(d.optIn)));
  });
}
