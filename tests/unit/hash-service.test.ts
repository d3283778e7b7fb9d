// The toplevel's hashing service answers exactly what hashing in the caller's
// own process would, with the caller's git environment, and says "do it
// yourself", and why, whenever it cannot answer.
import { test, expect, afterAll } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { serveHashing, hashViaService } from "../../src/toplevel/hash-service";
import { hashInputs } from "../../src/hash";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "hash-service-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { HOME: process.env.HOME, PATH: process.env.PATH };
Bun.spawnSync(["bash", "-ec", "git init -q repo && cd repo && mkdir src && echo a > src/a && echo b > src/b && git add . && git -c user.name=t -c user.email=t@t commit -qm i && echo c > src/c"], { cwd: dir });
const repo = join(dir, "repo");

/** Hashing in the caller's own process, with why it went the reference way when it did: what the service answers. */
async function local(cwd: string, specs: string[], raw: string[], callerEnv: Record<string, string | undefined> = env) {
  let fallback: string | undefined;
  const r = await hashInputs(cwd, specs, raw, { env: callerEnv, onFallback: (why) => (fallback = why) });
  return fallback === undefined ? r : { ...r, fallback };
}

test("answers what local hashing answers, errors included", async () => {
  const service = serveHashing(join(dir, "svc1"), env, () => {})!;
  const socket = service.path;
  try {
    expect(await hashViaService(socket, env, repo, ["src"], ["v1"])).toEqual(await local(repo, ["src"], ["v1"]));
    expect(await hashViaService(socket, env, join(repo, "src"), ["a", "../src/b"], [])).toEqual(await local(join(repo, "src"), ["a", "../src/b"], []));
    expect(await hashViaService(socket, env, repo, ["missing"], [])).toMatchObject({ ok: false, error: "pathspec 'missing' did not match any files" });
    // Many at once, as parallel nested tasks ask.
    const answers = await Promise.all(Array.from({ length: 10 }, () => hashViaService(socket, env, repo, ["src"], [])));
    const here = await local(repo, ["src"], []);
    for (const a of answers) expect(a).toEqual(here);
  } finally {
    service.stop();
  }
});

// A user-level ignore file that leaves out the untracked src/c: the hash tells whose HOME git read.
const home = join(dir, "home");
mkdirSync(home);
writeFileSync(join(home, ".gitconfig"), `[core]\n\texcludesFile = ${home}/ignore\n`);
writeFileSync(join(home, "ignore"), "c\n");

test("it hashes with the caller's git environment: another HOME or XDG_CONFIG_HOME, GIT_* variables on either side", async () => {
  const service = serveHashing(join(dir, "svc2"), env, () => {})!;
  const gitService = serveHashing(join(dir, "svc3"), { ...env, GIT_CONFIG_NOSYSTEM: "1", GIT_LITERAL_PATHSPECS: "1" }, () => {})!;
  try {
    const callers = [
      { ...env, HOME: home },
      { ...env, XDG_CONFIG_HOME: "/elsewhere" },
      { ...env, GIT_DIR: `${repo}/.git` },
      { ...env, GIT_LITERAL_PATHSPECS: "1" },
      { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` },
    ];
    for (const caller of callers) {
      const own = await local(repo, ["src"], [], caller);
      expect(await hashViaService(service.path, caller, repo, ["src"], [])).toEqual(own);
      // The toplevel's own GIT_* variables are not the caller's.
      expect(await hashViaService(gitService.path, caller, repo, ["src"], [])).toEqual(own);
    }
    // What makes the first and the last tell: the ignore file leaves src/c out.
    const plain = await hashInputs(repo, ["src"], [], { env });
    const ignoring = await hashInputs(repo, ["src"], [], { env: { ...env, HOME: home } });
    expect(plain).toMatchObject({ ok: true, hashInput: expect.stringContaining("src/c") });
    expect(ignoring).toMatchObject({ ok: true, hashInput: expect.not.stringContaining("src/c") });
    const global = await hashViaService(service.path, { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` }, repo, ["src"], []);
    expect(global).toEqual(await local(repo, ["src"], [], { ...env, GIT_CONFIG_GLOBAL: `${home}/.gitconfig` }));
    expect(global).toMatchObject({ ok: true, hash: (ignoring as { hash: string }).hash });
  } finally {
    service.stop();
    gitService.stop();
  }
});

test("the caller hashes by itself, and is told why: no service, a directory made before it", async () => {
  const lines: string[] = [];
  const service = serveHashing(join(dir, "svc4"), env, (m) => lines.push(m))!;
  const socket = service.path;
  service.stop();
  expect(await hashViaService(socket, env, repo, ["src"], [])).toMatchObject({ declined: expect.stringMatching(/^cannot connect to .*hash\.sock/) });
  // A directory someone made before us may not be only ours.
  expect(serveHashing(join(dir, "svc4"), env, (m) => lines.push(m))).toBeNull();
  expect(lines).toEqual([`hash service not started: cannot create ${join(dir, "svc4")}: File exists`]);
});

test("a socket path longer than a socket's ~100 bytes works (through /proc/self/fd), still in a 0700 directory", async () => {
  const long = join(dir, "x".repeat(100), "y".repeat(100), "svc");
  mkdirSync(dirname(long), { recursive: true });
  const lines: string[] = [];
  const service = serveHashing(long, env, (m) => lines.push(m));
  expect(lines).toEqual([]);
  try {
    expect(service!.path).toBe(`${long}/hash.sock`);
    expect(statSync(service!.path).isSocket()).toBe(true);
    expect(statSync(long).mode & 0o777).toBe(0o700);
    expect(await hashViaService(service!.path, env, repo, ["src"], ["v1"])).toEqual(await local(repo, ["src"], ["v1"]));
    // No descriptor of the directory stays open on either side.
    expect(readdirSync("/proc/self/fd").filter((fd) => readlinkOrNull(`/proc/self/fd/${fd}`) === long)).toEqual([]);
  } finally {
    service?.stop();
  }
  expect(existsSync(`${long}/hash.sock`)).toBe(false);
});

function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null; // the listing's own descriptor, gone by now
  }
}
