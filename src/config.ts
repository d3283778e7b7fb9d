// Every TASKRUNNER_* (and related) environment variable is read here, once, and
// validated. Nothing else in the program reads process.env for configuration.

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

export type OutputMode = "plain" | "github" | "progress";
const OUTPUT_MODES: readonly OutputMode[] = ["plain", "github", "progress"];

function outputMode(env: Env): OutputMode {
  const raw = env.TASKRUNNER_OUTPUT;
  if (raw === undefined || raw === "") return "plain";
  if ((OUTPUT_MODES as readonly string[]).includes(raw)) return raw as OutputMode;
  throw new ConfigError(`TASKRUNNER_OUTPUT=${JSON.stringify(raw)} is not valid: expected ${OUTPUT_MODES.join(", ")}`);
}

export interface S3Config {
  endpoint: string | null; // null = AWS
  region: string;
  accessKeyId: string | null;
  secretAccessKey: string | null;
  bucket: string | null;
  storageClass: string | null;
  /** Connections for downloading one big archive: 1, one stream (cache/ranged-body.ts). */
  downloadConnections: number;
  /**
   * Where the AWS SDK could be told to send requests elsewhere than AWS's own
   * endpoint: the first AWS_* variable that would (FIPS, dual-stack, an
   * endpoint URL), and the shared config file, whose profile may. Requests
   * signed without the SDK (cache/s3-signed.ts) are not used when they could differ.
   */
  awsEndpointVariable: string | null;
  awsConfigFile: string | null;
  /**
   * The AWS chain's first link, as the SDK takes it: AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN, if set), unless AWS_PROFILE
   * is set. Requests are signed with these when the TASKRUNNER_ keys are unset.
   */
  awsEnvironmentKeys: { accessKeyId: string; secretAccessKey: string; sessionToken: string | null } | null;
}

export interface GithubConfig {
  apiUrl: string;
  appId: string | null;
  installationId: string | null;
  privateKey: string | null;
  owner: string | null;
  repo: string | null;
  tokenRefreshThresholdSeconds: number;
}

export interface CacheKeysConfig {
  /** TASKRUNNER_CACHE_SIGNING_KEY: an Ed25519 private key, PEM text or a path. A secret: never printed. */
  signingKey: string | null;
  /** TASKRUNNER_CACHE_TRUSTED_KEYS: Ed25519 public keys, PEM text (several blocks) or a path. */
  trustedKeys: string | null;
  /** TASKRUNNER_CACHE_TRUST_OWN_PREFIX=1: what TASKRUNNER_REMOTE_CACHE_PREFIX holds is used unsigned. */
  trustOwnPrefix: boolean;
}

export interface Config {
  stateDirectory: string;
  rootDirectory: string;
  timestamps: boolean;
  debug: boolean;
  logInfo: boolean;
  /** TASKRUNNER_SUMMARY=1: the toplevel ends with a summary line (info, shown without TASKRUNNER_LOG_INFO too). */
  summary: boolean;
  quiet: boolean;
  /** TASKRUNNER_OUTPUT: how the terminal shows a build (docs/guides/ci-output.md); plain is the old tool's. */
  output: OutputMode;
  /** TASKRUNNER_STEP_SUMMARY=1 (or TASKRUNNER_OUTPUT=github): a Markdown summary appended to $GITHUB_STEP_SUMMARY. */
  stepSummary: boolean;
  /** $GITHUB_STEP_SUMMARY: the file GitHub Actions shows as the job summary. */
  githubStepSummary: string | null;
  /** GITHUB_ACTIONS=true: running as a GitHub Actions step. */
  githubActions: boolean;
  outputStreamTimeoutSeconds: number;
  saveRemoteCache: boolean;
  /** How long the toplevel waits, at the end of its build, for cache uploads still running (background-uploads.ts). */
  uploadWaitSeconds: number;
  fallbackBranches: string[];
  mainBranch: string | null;
  primeCacheMode: boolean;
  enableCommitStatus: boolean;
  uploadLogs: boolean;
  remoteCachePrefix: string;
  remoteCacheDir: string | null;
  /** TASKRUNNER_REMOTE_CACHE_FALLBACK_PREFIXES: read after remoteCachePrefix, in order; never written. */
  remoteCacheFallbackPrefixes: string[];
  /** Signing and verification (cache/signature.ts); the raw values, parsed when the cache is opened. */
  cacheKeys: CacheKeysConfig;
  logsPrefix: string;
  logsViewUrl: string;
  keepBuildsDays: number;
  /**
   * TASKRUNNER_RESTORE_MTIME: "restore" (default) stamps what an exact cache hit restores with the
   * restore's time; "archive" keeps the archived times, as the old tool did (docs/compatibility.md).
   */
  restoreMtime: "restore" | "archive";
  /** TASKRUNNER_NESTED_PROCESSES=1: every nested taskrunner in its own process (no toplevel/nested-server.ts). */
  nestedProcesses: boolean;
  traceFile: string | null;
  otlpEndpoint: string | null;
  s3: S3Config;
  github: GithubConfig;
}

function flag(env: Env, name: string): boolean {
  return env[name] === "1";
}

function nonEmpty(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v === "" ? null : v;
}

function number(env: Env, name: string, fallback: number, what: string): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = Number(raw.trim());
  if (!Number.isFinite(v) || v < 0) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not valid: expected ${what}`);
  }
  return v;
}

/** A whole number of connections from 1 to 16; unset: 1. */
function connections(env: Env, name: string): number {
  const what = "a whole number from 1 to 16, e.g. 4";
  const v = number(env, name, 1, what);
  if (!Number.isInteger(v) || v < 1 || v > 16)
    throw new ConfigError(`${name}=${JSON.stringify(env[name])} is not valid: expected ${what}`);
  return v;
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return values[0];
  const v = raw.trim() as T;
  if (!values.includes(v))
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not valid: expected ${values.join(" or ")}`);
  return v;
}

function url(env: Env, name: string): string | null {
  const raw = nonEmpty(env, name);
  if (raw === null) return null;
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
  } catch {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a valid http(s) URL`);
  }
  return raw.replace(/\/+$/, "");
}

const AWS_ENDPOINT_VARIABLES = [
  "AWS_ENDPOINT_URL_S3",
  "AWS_ENDPOINT_URL",
  "AWS_USE_FIPS_ENDPOINT",
  "AWS_USE_DUALSTACK_ENDPOINT",
];

function awsEnvironmentKeys(env: Env): S3Config["awsEnvironmentKeys"] {
  const accessKeyId = nonEmpty(env, "AWS_ACCESS_KEY_ID");
  const secretAccessKey = nonEmpty(env, "AWS_SECRET_ACCESS_KEY");
  if (accessKeyId === null || secretAccessKey === null || nonEmpty(env, "AWS_PROFILE") !== null) return null;
  return { accessKeyId, secretAccessKey, sessionToken: nonEmpty(env, "AWS_SESSION_TOKEN") };
}

function parseRepository(env: Env): { owner: string | null; repo: string | null } {
  const repository = nonEmpty(env, "GITHUB_REPOSITORY");
  const owner = nonEmpty(env, "GITHUB_REPOSITORY_OWNER");
  // GitHub Actions sets GITHUB_REPOSITORY to "owner/repo"; the old tool took a bare name.
  if (repository?.includes("/")) {
    const [o, r] = repository.split("/", 2);
    return { owner: o || owner, repo: r || null };
  }
  return { owner, repo: repository };
}

export function loadConfig(env: Env, cwd: string): Config {
  const s3Endpoint = nonEmpty(env, "TASKRUNNER_S3_ENDPOINT");
  const { owner, repo } = parseRepository(env);
  const privateKey = nonEmpty(env, "GITHUB_APP_PRIVATE_KEY");
  return {
    stateDirectory: nonEmpty(env, "TASKRUNNER_STATE_DIRECTORY") ?? "/tmp/taskrunner",
    rootDirectory: nonEmpty(env, "TASKRUNNER_ROOT_DIRECTORY") ?? cwd,
    timestamps: !flag(env, "TASKRUNNER_DISABLE_TIMESTAMPS"),
    debug: flag(env, "TASKRUNNER_DEBUG"),
    logInfo: flag(env, "TASKRUNNER_LOG_INFO"),
    summary: flag(env, "TASKRUNNER_SUMMARY"),
    quiet: flag(env, "TASKRUNNER_QUIET"),
    output: outputMode(env),
    stepSummary: flag(env, "TASKRUNNER_STEP_SUMMARY") || env.TASKRUNNER_OUTPUT === "github",
    githubStepSummary: nonEmpty(env, "GITHUB_STEP_SUMMARY"),
    githubActions: env.GITHUB_ACTIONS === "true",
    outputStreamTimeoutSeconds: number(env, "TASKRUNNER_OUTPUT_STREAM_TIMEOUT", 5, "a number of seconds, e.g. 5"),
    saveRemoteCache: flag(env, "TASKRUNNER_SAVE_REMOTE_CACHE"),
    uploadWaitSeconds: number(env, "TASKRUNNER_UPLOAD_WAIT_SECONDS", 600, "a number of seconds, e.g. 600"),
    fallbackBranches: (env.TASKRUNNER_FALLBACK_BRANCHES ?? "").split(/\s+/).filter(Boolean),
    mainBranch: nonEmpty(env, "TASKRUNNER_MAIN_BRANCH"),
    primeCacheMode: flag(env, "TASKRUNNER_PRIME_CACHE_MODE"),
    enableCommitStatus: flag(env, "TASKRUNNER_ENABLE_COMMIT_STATUS"),
    uploadLogs: flag(env, "TASKRUNNER_UPLOAD_LOGS"),
    // An empty value of a prefix variable means an empty prefix.
    remoteCachePrefix: env.TASKRUNNER_REMOTE_CACHE_PREFIX ?? "taskrunner/",
    remoteCacheDir: nonEmpty(env, "TASKRUNNER_REMOTE_CACHE_DIR"),
    remoteCacheFallbackPrefixes: (env.TASKRUNNER_REMOTE_CACHE_FALLBACK_PREFIXES ?? "").split(/\s+/).filter(Boolean),
    cacheKeys: {
      signingKey: nonEmpty(env, "TASKRUNNER_CACHE_SIGNING_KEY"),
      trustedKeys: nonEmpty(env, "TASKRUNNER_CACHE_TRUSTED_KEYS"),
      trustOwnPrefix: flag(env, "TASKRUNNER_CACHE_TRUST_OWN_PREFIX"),
    },
    logsPrefix: env.TASKRUNNER_LOGS_PREFIX ?? "",
    logsViewUrl: env.TASKRUNNER_LOGS_VIEW_URL ?? "",
    keepBuildsDays: number(env, "TASKRUNNER_KEEP_BUILDS_DAYS", 7, "a number of days, e.g. 7"),
    restoreMtime: oneOf(env, "TASKRUNNER_RESTORE_MTIME", ["restore", "archive"] as const),
    nestedProcesses: flag(env, "TASKRUNNER_NESTED_PROCESSES"),
    traceFile: nonEmpty(env, "TASKRUNNER_TRACE_FILE"),
    otlpEndpoint: url(env, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    s3: {
      endpoint: s3Endpoint === null || s3Endpoint === "default-aws" ? null : url(env, "TASKRUNNER_S3_ENDPOINT"),
      region: nonEmpty(env, "TASKRUNNER_AWS_REGION") ?? "eu-central-1",
      accessKeyId: nonEmpty(env, "TASKRUNNER_AWS_ACCESS_KEY"),
      secretAccessKey: nonEmpty(env, "TASKRUNNER_AWS_SECRET_KEY"),
      bucket: nonEmpty(env, "TASKRUNNER_REMOTE_CACHE_BUCKET"),
      storageClass: nonEmpty(env, "TASKRUNNER_S3_STORAGE_CLASS"),
      downloadConnections: connections(env, "TASKRUNNER_S3_DOWNLOAD_CONNECTIONS"),
      awsEndpointVariable: AWS_ENDPOINT_VARIABLES.find((name) => nonEmpty(env, name) !== null) ?? null,
      awsConfigFile: nonEmpty(env, "AWS_CONFIG_FILE") ?? (env.HOME ? `${env.HOME}/.aws/config` : null),
      awsEnvironmentKeys: awsEnvironmentKeys(env),
    },
    github: {
      apiUrl: url(env, "GITHUB_API_URL") ?? "https://api.github.com",
      appId: nonEmpty(env, "GITHUB_APP_ID"),
      installationId: nonEmpty(env, "GITHUB_INSTALLATION_ID"),
      // The key may come with `|` in place of newlines (single-line CI secrets).
      privateKey: privateKey === null ? null : privateKey.replaceAll("|", "\n"),
      owner,
      repo,
      tokenRefreshThresholdSeconds: number(
        env,
        "TASKRUNNER_GITHUB_TOKEN_REFRESH_THRESHOLD_SECONDS",
        300,
        "a number of seconds, e.g. 300",
      ),
    },
  };
}
