// Nested tasks served by the toplevel (src/toplevel/nested-server.ts), with real
// processes: where a nested task runs, and what a connection to the server
// can and cannot make it do. How both routes look to the user is compared by
// the golden cases (each nested case also runs with TASKRUNNER_NESTED_PROCESSES=1).
import { test, expect, beforeAll } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { scratch, runToEnd, taskrunner, waitFor } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

/**
 * Runs `taskrunner -n top bash -c script` (timestamps off) in a scratch
 * directory and hands what the user saw, and the directory, to check.
 */
async function toplevel(
  script: string,
  check: (
    r: { stdout: string; stderr: string; code: number; topLog: () => string },
    work: string,
  ) => void | Promise<void>,
  extraEnv: Record<string, string> = {},
): Promise<void> {
  const s = scratch("nested-server");
  try {
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], {
      TASKRUNNER_DISABLE_TIMESTAMPS: "1",
      ...extraEnv,
    });
    const builds = join(s.dir, "state", "builds");
    const topLog = () =>
      readdirSync(builds)
        .map((b) => readFileSync(join(builds, b, "logs", "top.log"), "utf8"))
        .join("");
    await check({ stdout: new TextDecoder().decode(r.stdout), stderr: r.stderr, code: r.code, topLog }, s.work);
  } finally {
    s.cleanup();
  }
}

// The nested task prints its parent process's command line: the toplevel
// taskrunner when served there, a taskrunner of its own otherwise.
const parentOfNested = `taskrunner -n inner bash -c 'tr "\\0" " " < /proc/$PPID/cmdline; echo'`;
const servedByToplevel = /^\[inner\] stdout \| \S*taskrunner -n top bash -c /;
const ownProcess = /^\[inner\] stdout \| \S*taskrunner -n inner bash -c /;

test("a nested task runs as a child of the toplevel: no taskrunner process of its own", () =>
  toplevel(parentOfNested, (r) => {
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(servedByToplevel);
    expect(r.code).toBe(0);
  }));

test("TASKRUNNER_NESTED_PROCESSES=1: every nested taskrunner is a process of its own", () =>
  toplevel(parentOfNested, (r) => expect(r.stdout).toMatch(ownProcess), { TASKRUNNER_NESTED_PROCESSES: "1" }));

// This process's AWS SDK and fetch (and git, for HOME) read these from its own environment.
for (const setting of ["HOME=/elsewhere", "AWS_PROFILE=other", "https_proxy=http://127.0.0.1:9"]) {
  const name = setting.split("=")[0];
  test(`a caller with its own ${name} gets a taskrunner process of its own, and the parent's log says why`, () =>
    toplevel(`${setting} ${parentOfNested}`, (r) => {
      expect(r.stdout).toMatch(ownProcess);
      expect(r.code).toBe(0);
      expect(r.topLog()).toContain(`debug | Nested taskrunner ["-n","inner","bash","-c",`);
      expect(r.topLog()).toContain(
        `not served in the toplevel, it runs in a process of its own: ${name} differs between the caller and the toplevel`,
      );
    }));
}

/**
 * A task script that sends the server a request by hand and prints the reply
 * (writing on after the server dropped the connection fails, quietly).
 */
function handMadeRequest(token: string, args: string[]): string {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  return `trap '' PIPE
exec {fd}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
{ printf '%s\\0' "${token}"; umask; ulimit -a; ulimit -Ha; printf '\\0%s' "$PWD" "$BASH" ${args.length} ${quoted}; printf '\\0'; } >&$fd 2>/dev/null
env -0 >&$fd 2>/dev/null
printf '\\0' >&$fd 2>/dev/null
IFS= read -r -u $fd reply
echo "reply: $reply"`;
}

// git alone reads GIT_* variables, and every git run for a task gets the task's environment:
// a caller with its own is served, and its inputs hash as in a process of its own. So does a
// nested process asking the toplevel's hashing service. A user-level ignore file that leaves out
// the untracked in/c tells whose GIT_CONFIG_GLOBAL git read.
for (const [route, extra, where] of [
  ["served by the toplevel", {}, servedByToplevel],
  ["a nested process, hashed by the toplevel's service", { TASKRUNNER_NESTED_PROCESSES: "1" }, ownProcess],
] as const) {
  test(`a caller with its own GIT_* variable: its inputs hash with it (${route})`, () =>
    toplevel(
      `git init -q && mkdir in && echo a > in/a && git add in && git -c user.name=t -c user.email=t@t commit -qm i && echo c > in/c
      printf '[core]\\n\\texcludesFile = %s/ignore\\n' "$PWD" > gitconfig && echo c > ignore
      GIT_CONFIG_GLOBAL=$PWD/gitconfig ${parentOfNested.replace("; echo'", "; snapshot in; echo'")}`,
      (r, work) => {
        expect(r.stdout).toMatch(where);
        expect(r.code).toBe(0);
        expect(r.topLog()).not.toContain("not served in the toplevel");
        if (where === ownProcess)
          expect(r.stderr).toContain("[inner] debug | Inputs hashed by the toplevel's hashing service\n");
        const hashed = JSON.parse(readFileSync(join(work, "..", "state", "hash", "inner.hash"), "utf8"));
        expect(hashed.hashInput).toContain("in/a");
        expect(hashed.hashInput).not.toContain("in/c");
      },
      { TASKRUNNER_DEBUG: "1", ...extra },
    ));
}

test("a request without the build's token runs nothing: the connection is dropped unanswered", () =>
  toplevel(handMadeRequest("0123456789abcdef0123456789abcdef", ["-n", "intruder", "touch", "pwned"]), (r, work) => {
    expect(r.stdout).toBe("[top] stdout | reply: \n");
    expect(existsSync(join(work, "pwned"))).toBe(false);
  }));

test("with the token, the same hand-made request runs the task", () =>
  toplevel(handMadeRequest("$_taskrunner_run_token", ["-n", "made", "touch", "made-here"]), (r, work) => {
    expect(r.stdout).toBe("[top] stdout | reply: exit 0\n");
    expect(existsSync(join(work, "made-here"))).toBe(true);
  }));

test("garbage or a request cut short neither runs anything nor holds up the build", () =>
  toplevel(
    `exec {a}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
printf '%s\\0not a umask\\n\\0\\0' "$_taskrunner_run_token" >&$a
IFS= read -r -u $a reply
echo "garbage after the token: $reply"
exec {b}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
printf 'not a token, and then not a request either\\n\\0\\0' >&$b
IFS= read -r -u $b dropped 2>/dev/null
echo "garbage: [$dropped]"
exec {c}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
printf '%s\\0' "$_taskrunner_run_token" >&$c
printf '0022\\n\\0' >&$c
exec {c}>&-
echo "cut short: closed"`,
    (r) => {
      expect(r.stdout).toBe(
        "[top] stdout | garbage after the token: fallback\n[top] stdout | garbage: []\n[top] stdout | cut short: closed\n",
      );
      expect(r.code).toBe(0);
    },
  ));

test("a request still arriving when the build ends is told to run the binary", () =>
  // A background caller that has connected but not finished its request when the toplevel's task ends.
  toplevel(
    `( exec {fd}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
  printf '%s\\0' "$_taskrunner_run_token" >&$fd
  printf '0022\\n' >&$fd
  IFS= read -r -u $fd reply
  echo "[$reply]" > "$PWD/late-reply" ) >/dev/null 2>&1 &
sleep 0.5`,
    async (r, work) => {
      expect(r.code).toBe(0);
      await waitFor(() => existsSync(join(work, "late-reply")));
      await Bun.sleep(100);
      expect(await Bun.file(join(work, "late-reply")).text()).toBe("[fallback]\n");
    },
  ));

test(
  "a toplevel that runs hundreds of nested tasks keeps no descriptor of theirs open",
  () =>
    // The toplevel is the parent of its task's bash; count its descriptors before and after.
    toplevel(
      `count() { local fds=(/proc/$PPID/fd/*); echo \${#fds[@]}; }
before=$(count)
for i in $(seq 200); do taskrunner -n "n$i" bash -c 'snapshot; echo "$1" >&2' _ "$i" 2>/dev/null; done
echo "descriptors gained: $(( $(count) - before ))"`,
      (r) => {
        // A leak grows with the tasks (one each was the bug); the last task's pipe may still be
        // closing when the count is taken.
        const gained = Number(/descriptors gained: (-?\d+)\n$/.exec(r.stdout)?.[1]);
        expect(gained).toBeLessThan(5);
        expect(r.code).toBe(0);
      },
    ),
  60_000,
);

// The port is listed in /proc/net/tcp for every local user to see. What a
// neighbour without the token can do to the toplevel, with real processes.

/** A toplevel whose task writes its port and the toplevel's pid, waits for `go`, then runs a nested task. */
async function waitingToplevel(prefix: string) {
  const s = scratch(prefix);
  const p = taskrunner(
    s,
    [
      "-n",
      "top",
      "bash",
      "-c",
      `echo "$_taskrunner_run_port $PPID" > ready.tmp && mv ready.tmp ready
while [ ! -e go ]; do sleep 0.05; done
${parentOfNested}`,
    ],
    { TASKRUNNER_DISABLE_TIMESTAMPS: "1" },
  );
  await waitFor(() => existsSync(join(s.work, "ready")));
  const [port, pid] = readFileSync(join(s.work, "ready"), "utf8").trim().split(" ").map(Number);
  const status = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) * 1024;
  return {
    port,
    /** The toplevel's resident memory now, and the most it ever had. */
    rss: () => status("VmRSS"),
    peakRss: () => status("VmHWM"),
    /** Lets the task go on; what the build printed. */
    async finish() {
      writeFileSync(join(s.work, "go"), "");
      const [stdout, stderr, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      s.cleanup();
      return { stdout, stderr, code };
    },
  };
}

const MiB = 1024 * 1024;

test.concurrent("40 connections of 15 MiB each without the token leave the toplevel's RSS within +50 MiB, and the build goes on", async () => {
  const top = await waitingToplevel("nested-flood");
  const before = top.rss();
  // 40 neighbours, each a process of its own, sending 15 MiB at once (no NUL: no end of a request).
  const attackers = Array.from({ length: 40 }, () =>
    Bun.spawn(["bash", "-c", `head -c 15M /dev/zero | tr "\\0" x > /dev/tcp/127.0.0.1/${top.port}`], {
      stdout: "ignore",
      stderr: "ignore",
    }),
  );
  await Promise.all(attackers.map((a) => a.exited));
  const grown = top.peakRss() - before;
  const r = await top.finish();
  expect(grown).toBeLessThan(50 * MiB);
  expect(r.stdout).toMatch(servedByToplevel);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}, 60_000);

test.concurrent("connections that never show the token: beyond 64 the oldest is told to run the binary, the rest after 10 s; the build's own tasks still get through", async () => {
  const top = await waitingToplevel("nested-idle");
  const opened = performance.now();
  const closedAt: number[] = [];
  const replies: string[] = [];
  // 100 neighbours that connect and send a few bytes, never the whole token.
  const sockets = [];
  for (let i = 0; i < 100; i++) {
    sockets.push(
      await Bun.connect({
        hostname: "127.0.0.1",
        port: top.port,
        socket: {
          open: (sock) => void sock.write("01234"),
          data: (_sock, data) => void replies.push(data.toString()),
          end: (sock) => void sock.end(),
          close: () => void closedAt.push(performance.now() - opened),
          error() {},
        },
      }),
    );
  }
  await waitFor(() => closedAt.length >= 36);
  expect(closedAt.length).toBe(36); // each one past 64 sent the oldest away
  // The rest go at the deadline, not long before nor long after.
  await waitFor(() => closedAt.length === 100, 30_000);
  const atDeadline = closedAt.slice(36);
  expect(Math.min(...atDeadline)).toBeGreaterThan(9_000);
  expect(Math.max(...atDeadline)).toBeLessThan(25_000);
  // A caller of ours crowded out or held up would run the binary: each was told so.
  expect(replies.join("")).toBe("fallback\n".repeat(100));
  const r = await top.finish();
  expect(r.stdout).toMatch(servedByToplevel);
  expect(r.code).toBe(0);
  for (const sock of sockets) sock.end();
}, 60_000);

// A signal to the toplevel reaches the tasks running then. A script that
// outlives it — it traps the signal, or its bash was waiting for a command
// that ended normally — and asks for another nested task gets the interrupted
// exit code: that task does not start (it would run on unsignalled, and the
// build would wait for it).
test("after a signal to the toplevel, a nested task asked for by a script that trapped it does not start: its caller gets 130", async () => {
  const s = scratch("nested-after-signal");
  try {
    const script = `trap 'echo trapped; touch ../trapped' INT
taskrunner -n a bash -c 'echo a ran'
touch ../a-done
while [ ! -e ../go ]; do sleep 0.05; done
taskrunner -n b bash -c 'touch ../b-ran; echo b ran'
echo "b: $?"`;
    const p = taskrunner(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    await waitFor(() => existsSync(join(s.dir, "a-done")), 30_000);
    p.kill("SIGINT");
    // Once the trap ran, the script goes on.
    await waitFor(() => existsSync(join(s.dir, "trapped")), 30_000);
    writeFileSync(join(s.dir, "go"), "");
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    expect({ stdout, stderr, code }).toEqual({
      stdout: "[a] stdout | a ran\n[top] stdout | trapped\n[top] stdout | b: 130\n",
      stderr: "[top] warn | Interrupted by SIGINT\n",
      code: 130,
    });
    expect(existsSync(join(s.dir, "b-ran"))).toBe(false);
  } finally {
    s.cleanup();
  }
});
