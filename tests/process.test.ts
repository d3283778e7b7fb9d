// Locks, builds and signals, with real processes.
import { test, expect, beforeAll } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { endedText, scratch, taskrunner, taskrunnerAfter, runToEnd, waitFor } from "./helpers/run";
import { createBuild } from "../src/state/layout";

beforeAll(ensureBinary, 120_000);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const [signal, code] of [
  ["SIGTERM", 143],
  ["SIGINT", 130],
] as const) {
  test(`${signal} reaches the task's whole tree; runner exits ${code} and records nothing`, async () => {
    const s = scratch("signal");
    try {
      const grandchild = `trap 'echo got-it > gc-signalled; exit 0' TERM INT; echo $$ > gc-pid; while :; do sleep 0.05; done`;
      const script = `snapshot --raw v1; sh -c "$1"; echo "task went on"`;
      const p = taskrunner(s, ["-n", "victim", "bash", "-c", script, "x", grandchild]);
      await waitFor(() => existsSync(join(s.work, "gc-pid")));
      p.kill(signal);
      expect(await p.exited).toBe(code);
      await waitFor(() => existsSync(join(s.work, "gc-signalled")));
      const state = join(s.dir, "state");
      const build = readdirSync(join(state, "builds"))[0];
      expect(existsSync(join(state, "builds", build, "results", "victim"))).toBe(false);
      expect(existsSync(join(state, "hash", "victim.hash"))).toBe(false);
      // The lock is free: the same job runs at once in a new build.
      const again = await runToEnd(s, ["-n", "victim", "echo", "again"]);
      expect(again.code).toBe(0);
    } finally {
      s.cleanup();
    }
  });
}

// A runner killed with SIGKILL cannot say "the job is over": the task it
// started holds the job lock too, so a second build waits until the orphaned
// body has finished instead of running the same job beside it.
const ORPHAN_BODY = `echo $$ > task-pid; echo $PPID > task-parent; sleep 2; touch task-done`;
const SECOND_BUILD = `test -f task-done && echo "waited for the orphan" || echo "ran beside the orphan"`;

async function killedMidTask(
  s: ReturnType<typeof scratch>,
  victim: () => number,
  extraEnv: Record<string, string> = {},
) {
  await waitFor(
    () => existsSync(join(s.work, "task-parent")) && readFileSync(join(s.work, "task-parent"), "utf8").endsWith("\n"),
  );
  const orphan = Number(readFileSync(join(s.work, "task-pid"), "utf8"));
  process.kill(victim(), "SIGKILL");
  expect(alive(orphan)).toBe(true);
  const second = await runToEnd(s, ["-n", "held", "bash", "-c", SECOND_BUILD], extraEnv);
  expect(new TextDecoder().decode(second.stdout)).toBe("[held] stdout | waited for the orphan\n");
}

test("a toplevel killed with SIGKILL keeps its job locked until its orphaned task ends", async () => {
  const s = scratch("sigkill");
  try {
    const p = taskrunner(s, ["-n", "held", "bash", "-c", ORPHAN_BODY]);
    await killedMidTask(s, () => p.pid);
  } finally {
    s.cleanup();
  }
});

test("a toplevel killed with SIGKILL keeps the lock of a nested task it serves until that task's body ends", async () => {
  const s = scratch("sigkill-served");
  try {
    const p = taskrunner(s, ["-n", "top", "bash", "-c", `taskrunner -n held bash -c '${ORPHAN_BODY}'`]);
    await killedMidTask(s, () => {
      // Served in the toplevel's process: the nested task's parent is the toplevel itself.
      expect(Number(readFileSync(join(s.work, "task-parent"), "utf8"))).toBe(p.pid);
      return p.pid;
    });
  } finally {
    s.cleanup();
  }
});

test("a nested taskrunner process killed with SIGKILL keeps its job locked until its task ends", async () => {
  const s = scratch("sigkill-nested");
  try {
    const env = { TASKRUNNER_NESTED_PROCESSES: "1" };
    const p = taskrunner(s, ["-n", "top", "bash", "-c", `taskrunner -n held bash -c '${ORPHAN_BODY}'`], env);
    await killedMidTask(
      s,
      () => {
        const runner = Number(readFileSync(join(s.work, "task-parent"), "utf8"));
        expect(runner).not.toBe(p.pid);
        return runner;
      },
      env,
    );
    await p.exited;
  } finally {
    s.cleanup();
  }
});

test("a background process a finished task left running does not keep its job locked", async () => {
  const s = scratch("lock-leak");
  let leftover = 0;
  try {
    // Off the runner's channels (60-63), so that the first run ends; but with the job's descriptor, 64.
    const first = await runToEnd(s, [
      "-n",
      "bg",
      "bash",
      "-c",
      "sleep 30 >/dev/null 2>&1 60>&- 61>&- 62>&- 63>&- & echo $! > bg-pid",
    ]);
    expect(first.code).toBe(0);
    leftover = Number(readFileSync(join(s.work, "bg-pid"), "utf8"));
    expect(alive(leftover)).toBe(true);
    // It holds a copy of the locked descriptor, yet the job is free.
    const fds = Bun.spawnSync(["bash", "-c", `readlink /proc/${leftover}/fd/64`]).stdout.toString();
    expect(fds).toEndWith("locks/bg.lock\n");
    const again = await runToEnd(s, ["-n", "bg", "echo", "not blocked"]);
    expect(new TextDecoder().decode(again.stdout)).toBe("[bg] stdout | not blocked\n");
  } finally {
    if (leftover) process.kill(leftover, "SIGKILL");
    s.cleanup();
  }
});

test("the job lock is system-wide: a second build of the same job waits for the first", async () => {
  const s = scratch("lock");
  try {
    const first = taskrunner(s, ["-n", "shared", "bash", "-c", "touch started; sleep 1.5; touch first-done"]);
    await waitFor(() => existsSync(join(s.work, "started")));
    const second = await runToEnd(s, ["-n", "shared", "bash", "-c", "test -f first-done && echo waited"]);
    expect(new TextDecoder().decode(second.stdout)).toBe("[shared] stdout | waited\n");
    expect(await first.exited).toBe(0);
  } finally {
    s.cleanup();
  }
});

test("two toplevels started at the same instant get different build ids", async () => {
  const s = scratch("ids");
  try {
    const runs = await Promise.all(
      [1, 2, 3, 4].map((i) => runToEnd(s, ["-n", `t${i}`, "bash", "-c", 'echo "$_taskrunner_build_id"'])),
    );
    const ids = runs.map((r) => new TextDecoder().decode(r.stdout).split(" | ")[1].trim());
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // Same microsecond in one process: the exclusive mkdir moves the second one on.
    const a = createBuild(join(s.dir, "state2"), 1_800_000_000_000_000);
    const b = createBuild(join(s.dir, "state2"), 1_800_000_000_000_000);
    expect(a).toMatchObject({ buildId: "2027-01-15T08:00:00.000000Z" });
    expect(b).toMatchObject({ buildId: "2027-01-15T08:00:00.000001Z" });
  } finally {
    s.cleanup();
  }
});

test("toplevel runs remove builds older than TASKRUNNER_KEEP_BUILDS_DAYS, never a running one", async () => {
  const s = scratch("housekeeping");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  const builds = join(s.dir, "state", "builds");
  const old = "2020-01-01T00:00:00.000000Z";
  const oldRunning = "2020-01-02T00:00:00.000000Z";
  const recent = new Date(Date.now() - 2 * 86_400_000).toISOString().replace("Z", "000Z");
  for (const id of [old, oldRunning, recent]) {
    mkdirSync(join(builds, id, "logs"), { recursive: true });
    writeFileSync(join(builds, id, "logs", "x.log"), "x");
  }
  // A taskrunner of that build is still alive: it holds running.lock shared.
  const holder = Bun.spawn(["flock", "-s", join(builds, oldRunning, "running.lock"), "sleep", "30"]);
  try {
    await waitFor(() => existsSync(join(builds, oldRunning, "running.lock")));
    const r = await runToEnd(s, ["-n", "t", "true"], { TASKRUNNER_KEEP_BUILDS_DAYS: "3" });
    expect(r.code).toBe(0);
    const left = readdirSync(builds);
    expect(left).not.toContain(old);
    expect(left).toContain(oldRunning);
    expect(left).toContain(recent);
    expect(left.length).toBe(3); // + the build that just ran
  } finally {
    holder.kill();
    s.cleanup();
  }
});

// The hashing service answers with blob ids of any file its caller names, read
// with the toplevel's rights: no other user may reach it, whatever the umask.
// A state directory path of 200 characters (CI runners have long ones) makes a
// socket path longer than sun_path's ~100 bytes: the service is reached
// through /proc/self/fd instead, and stays as closed to others.
const LONG_STATE = join("a".repeat(60), "b".repeat(60), "c".repeat(60));

for (const [what, stateDir] of [
  ["", "state"],
  [", with a 200-character state directory path", LONG_STATE],
] as const) {
  test.skipIf(process.getuid?.() !== 0)(
    `under umask 000 the build's hashing socket is its user's alone: another user cannot connect${what} (needs root, to be another user)`,
    async () => {
      const s = scratch("hash-socket");
      try {
        chmodSync(s.dir, 0o755); // as open to others as the default /tmp/taskrunner
        const state = join(s.dir, stateDir);
        const task = `echo "$_taskrunner_hash_service" > socket.tmp && mv socket.tmp socket; while [ ! -e go ]; do sleep 0.05; done`;
        const p = taskrunnerAfter("umask 000", s, ["-n", "top", "bash", "-c", task], {
          TASKRUNNER_STATE_DIRECTORY: state,
        });
        await waitFor(() => existsSync(join(s.work, "socket")));
        const socket = readFileSync(join(s.work, "socket"), "utf8").trim();
        expect(socket).toStartWith(join(state, "builds"));
        expect(statSync(dirname(socket)).mode & 0o777).toBe(0o700);
        // Another user (nobody), in a process of its own, tries to connect, as our own client would.
        const client = `const { openSync } = require("node:fs"); const sock = process.env.SOCK;
          let unix = sock;
          try { if (sock.length > 100) unix = "/proc/self/fd/" + openSync(sock.slice(0, sock.lastIndexOf("/")), "r") + "/hash.sock"; } catch (e) { console.log(e.code); process.exit(0); }
          Bun.connect({ unix, socket: { open(s) { console.log("connected"); s.end(); }, data() {}, error() {} } }).catch((e) => console.log(e.code));`;
        const other = Bun.spawnSync(
          ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", client],
          {
            env: { PATH: process.env.PATH ?? "", HOME: "/tmp", SOCK: socket },
          },
        );
        expect(other.stdout.toString().trim()).toBe("EACCES");
        writeFileSync(join(s.work, "go"), "");
        expect(await p.exited).toBe(0);
      } finally {
        s.cleanup();
      }
    },
  );
}

test("with a 200-character state directory path, a nested taskrunner process hashes through the toplevel's service", async () => {
  const s = scratch("hash-long");
  try {
    Bun.spawnSync(
      [
        "bash",
        "-ec",
        "git init -q . && echo a > input.txt && git add . && git -c user.name=t -c user.email=t@t commit -qm i",
      ],
      { cwd: s.work },
    );
    const state = join(s.dir, LONG_STATE);
    // The service declines callers with GIT_* variables (git reads them); the test setup sets a few.
    s.env = Object.fromEntries(Object.entries(s.env).filter(([k]) => !k.startsWith("GIT_")));
    expect(`${state}/builds/2026-12-01T05:03:23.123456Z/hash-service/hash.sock`.length).toBeGreaterThan(250);
    const r = await runToEnd(
      s,
      ["-n", "top", "bash", "-c", "taskrunner -n child bash -c 'snapshot input.txt; echo built'"],
      {
        TASKRUNNER_STATE_DIRECTORY: state,
        TASKRUNNER_NESTED_PROCESSES: "1",
        TASKRUNNER_DEBUG: "1",
      },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("hash service not started");
    expect(r.stderr).not.toContain("Hashing here, not by the toplevel's hashing service");
    expect(r.stderr).toContain("[child] debug | Inputs hashed by the toplevel's hashing service\n");
    expect(JSON.parse(readFileSync(join(state, "hash", "child.hash"), "utf8")).hash).toMatch(/^[0-9a-f]{40}$/);
  } finally {
    s.cleanup();
  }
});

// A nested task's hashing may run git where the toplevel is (served inside it,
// or asked of its hashing service by a nested process); the reference route's
// `git add` writes objects into the repository (.git/objects/xx/, made 0777 & ~umask):
// they must get the caller's umask, not the toplevel's.
for (const [route, env] of [
  ["served inside the toplevel", {}],
  ["a nested process asking the toplevel's hashing service", { TASKRUNNER_NESTED_PROCESSES: "1" }],
] as const) {
  test(`git objects written while hashing a nested task get the caller's umask (${route})`, async () => {
    const s = scratch("hash-umask");
    try {
      // core.trustctime=false sends hashing the reference way (git add + write-tree). The untracked
      // file's blob goes in a folder of objects no other object is in yet (the commit's name is
      // the time's: a fixed content would share one with it now and then).
      const setup = `git init -q && git config core.trustctime false && mkdir in && echo a > in/a && git add .
git -c user.name=t -c user.email=t@t commit -qm i
for i in $(seq 100); do
  echo "new, untracked $i" > in/new; blob=$(git hash-object in/new); [ -e ".git/objects/\${blob:0:2}" ] || break
done
echo "$blob"`;
      const blob = Bun.spawnSync(["bash", "-ec", setup], { cwd: s.work }).stdout.toString().trim();
      const objects = join(s.work, ".git", "objects", blob.slice(0, 2));
      expect(existsSync(objects)).toBe(false);
      // GIT_* variables would keep the service from answering (git reads them).
      s.env = Object.fromEntries(Object.entries(s.env).filter(([k]) => !k.startsWith("GIT_")));
      const script = "umask 077; taskrunner -n child bash -c 'snapshot in; echo hashed'";
      const { stderr, code } = await endedText(
        taskrunnerAfter("umask 022", s, ["-n", "top", "bash", "-c", script], { ...env, TASKRUNNER_DEBUG: "1" }),
      );
      expect(code).toBe(0);
      // On both routes the task's log says why it was hashed the reference way.
      expect(stderr).toContain("[child] debug | Hashing the reference way: config core.trustctime");
      if (route !== "served inside the toplevel")
        expect(stderr).toContain("[child] debug | Inputs hashed by the toplevel's hashing service");
      expect(statSync(objects).mode & 0o777).toBe(0o700);
    } finally {
      s.cleanup();
    }
  });
}

// Descriptors 60 to 64 go to every task (task/process.ts): under a low open-files
// limit Bun cannot hand them over, and said only "EINVAL: invalid argument, fcntl".
test("an open-files limit too low for the task's descriptors: one error line saying which limit and what to do, exit 126", async () => {
  const s = scratch("nofile");
  try {
    const { stdout, stderr, code } = await endedText(
      taskrunnerAfter("ulimit -n 64", s, ["-n", "job", "bash", "-c", "echo ran"], {
        TASKRUNNER_DISABLE_TIMESTAMPS: "1",
      }),
    );
    expect({ stdout, stderr, code }).toEqual({
      stdout: "",
      stderr:
        '[job] error | cannot run "bash": the open-files limit (ulimit -n 64) is too low: taskrunner hands a task descriptors 60 to 64 besides its own; raise it to 128 or more (ulimit -n 1024)\n',
      code: 126,
    });
  } finally {
    s.cleanup();
  }
});
