// The toplevel's hashing service answers exactly what hashing locally would,
// and says "do it yourself", and why, whenever it cannot stand in for the caller.
import { test, expect, afterAll } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { serveHashing, hashViaService } from "../../src/toplevel/hash-service";
import { hashInputs } from "../../src/hash";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "hash-service-")));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { HOME: process.env.HOME, PATH: process.env.PATH };
Bun.spawnSync(["bash", "-ec", "git init -q repo && cd repo && mkdir src && echo a > src/a && echo b > src/b && git add . && git -c user.name=t -c user.email=t@t commit -qm i && echo c > src/c"], { cwd: dir });
const repo = join(dir, "repo");

test("answers what local hashing answers, errors included", async () => {
  const service = serveHashing(join(dir, "svc1"), env, () => {})!;
  const socket = service.path;
  try {
    expect(await hashViaService(socket, env, repo, ["src"], ["v1"])).toEqual(await hashInputs(repo, ["src"], ["v1"]));
    expect(await hashViaService(socket, env, join(repo, "src"), ["a", "../src/b"], [])).toEqual(await hashInputs(join(repo, "src"), ["a", "../src/b"], []));
    expect(await hashViaService(socket, env, repo, ["missing"], [])).toEqual({ ok: false, error: "pathspec 'missing' did not match any files" });
    // Many at once, as parallel nested tasks ask.
    const answers = await Promise.all(Array.from({ length: 10 }, () => hashViaService(socket, env, repo, ["src"], [])));
    const local = await hashInputs(repo, ["src"], []);
    for (const a of answers) expect(a).toEqual(local);
  } finally {
    service.stop();
  }
});

test("the caller hashes by itself, and is told why: another HOME or XDG_CONFIG_HOME, GIT_* variables, no service", async () => {
  const lines: string[] = [];
  const service = serveHashing(join(dir, "svc2"), env, (m) => lines.push(m))!;
  const socket = service.path;
  try {
    expect(await hashViaService(socket, { ...env, HOME: "/elsewhere" }, repo, ["src"], [])).toEqual({
      declined: "it declined: HOME differs between the caller and the toplevel, and this process's own code reads it",
    });
    expect(await hashViaService(socket, { ...env, GIT_DIR: `${repo}/.git` }, repo, ["src"], [])).toEqual({ declined: "this task has GIT_DIR set, which git reads" });
    // Any variable git or hashing reads from the process, not a chosen few.
    expect(await hashViaService(socket, { ...env, GIT_LITERAL_PATHSPECS: "1" }, repo, ["src"], [])).toEqual({
      declined: "this task has GIT_LITERAL_PATHSPECS set, which git reads",
    });
    expect(await hashViaService(socket, { ...env, XDG_CONFIG_HOME: "/elsewhere" }, repo, ["src"], [])).toEqual({
      declined: "it declined: XDG_CONFIG_HOME differs between the caller and the toplevel (set only for the caller), and this process's own code reads it",
    });
  } finally {
    service.stop();
  }
  expect(await hashViaService(socket, env, repo, ["src"], [])).toMatchObject({ declined: expect.stringMatching(/^cannot connect to .*hash\.sock/) });
  // GIT_* variables in the toplevel: nested runners hash by themselves.
  const gitService = serveHashing(join(dir, "svc3"), { ...env, GIT_CONFIG_NOSYSTEM: "1" }, () => {})!;
  const gitSocket = gitService.path;
  try {
    expect(await hashViaService(gitSocket, env, repo, ["src"], [])).toEqual({ declined: "it declined: the toplevel has GIT_CONFIG_NOSYSTEM set, which git reads" });
  } finally {
    gitService.stop();
  }
  // A directory someone made before us may not be only ours.
  expect(serveHashing(join(dir, "svc1"), env, (m) => lines.push(m))).toBeNull();
  expect(lines).toEqual([`hash service not started: cannot create ${join(dir, "svc1")}: File exists`]);
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
    expect(await hashViaService(service!.path, env, repo, ["src"], ["v1"])).toEqual(await hashInputs(repo, ["src"], ["v1"]));
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
