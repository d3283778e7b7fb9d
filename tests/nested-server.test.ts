// Nested tasks served by the toplevel (src/nested-server.ts), with real
// processes: where a nested task runs, and what a connection to the server
// can and cannot make it do. How both routes look to the user is compared by
// the golden cases (each nested case also runs with TASKRUNNER_NESTED_PROCESSES=1).
import { test, expect, beforeAll } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "./helpers/binary";
import { scratch, runToEnd, waitFor } from "./helpers/run";

beforeAll(ensureBinary, 120_000);

const decoder = new TextDecoder();

// The nested task prints its parent process's command line: the toplevel
// taskrunner when served there, a taskrunner of its own otherwise.
const parentOfNested = `taskrunner -n inner bash -c 'tr "\\0" " " < /proc/$PPID/cmdline; echo'`;

test("a nested task runs as a child of the toplevel: no taskrunner process of its own", async () => {
  const s = scratch("nested-served");
  try {
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", parentOfNested], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(r.stderr).toBe("");
    expect(decoder.decode(r.stdout)).toMatch(/^\[inner\] stdout \| \S*taskrunner -n top bash -c /);
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
});

test("TASKRUNNER_NESTED_PROCESSES=1: every nested taskrunner is a process of its own", async () => {
  const s = scratch("nested-processes");
  try {
    const env = { TASKRUNNER_DISABLE_TIMESTAMPS: "1", TASKRUNNER_NESTED_PROCESSES: "1" };
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", parentOfNested], env);
    expect(decoder.decode(r.stdout)).toMatch(/^\[inner\] stdout \| \S*taskrunner -n inner bash -c /);
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
});

/** A task script that sends the server a request by hand and prints the reply. */
function handMadeRequest(token: string, args: string[]): string {
  const quoted = args.map((a) => `'${a}'`).join(" ");
  return `exec {fd}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
{ umask; ulimit -a; ulimit -Ha; printf '\\0%s' "${token}" "$PWD" "$BASH" ${args.length} ${quoted}; printf '\\0'; } >&$fd
env -0 >&$fd
printf '\\0' >&$fd
IFS= read -r -u $fd reply
echo "reply: $reply"`;
}

test("a request without the build's token runs nothing", async () => {
  const s = scratch("nested-token");
  try {
    const script = handMadeRequest("0123456789abcdef0123456789abcdef", ["-n", "intruder", "touch", "pwned"]);
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(decoder.decode(r.stdout)).toBe("[top] stdout | reply: fallback\n");
    expect(existsSync(join(s.work, "pwned"))).toBe(false);
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
});

test("with the token, the same hand-made request runs the task", async () => {
  const s = scratch("nested-token-ok");
  try {
    const script = handMadeRequest("$_taskrunner_run_token", ["-n", "made", "touch", "made-here"]);
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(decoder.decode(r.stdout)).toBe("[top] stdout | reply: exit 0\n");
    expect(existsSync(join(s.work, "made-here"))).toBe(true);
  } finally {
    s.cleanup();
  }
});

test("garbage or a request cut short neither runs anything nor holds up the build", async () => {
  const s = scratch("nested-garbage");
  try {
    const script = `exec {a}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
printf 'not a umask\\n\\0\\0' >&$a
IFS= read -r -u $a reply
echo "garbage: $reply"
exec {b}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
printf '0022\\n\\0%s\\0' "$_taskrunner_run_token" >&$b
exec {b}>&-
echo "cut short: closed"`;
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(decoder.decode(r.stdout)).toBe("[top] stdout | garbage: fallback\n[top] stdout | cut short: closed\n");
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
});

// This process's git, AWS SDK and fetch read these from its own environment.
for (const setting of ["HOME=/elsewhere", "AWS_PROFILE=other", "GIT_CONFIG_GLOBAL=/dev/null", "https_proxy=http://127.0.0.1:9"]) {
  test(`a caller with its own ${setting.split("=")[0]} gets a taskrunner process of its own`, async () => {
    const s = scratch("nested-env");
    try {
      const r = await runToEnd(s, ["-n", "top", "bash", "-c", `${setting} ${parentOfNested}`], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
      expect(decoder.decode(r.stdout)).toMatch(/^\[inner\] stdout \| \S*taskrunner -n inner bash -c /);
      expect(r.code).toBe(0);
    } finally {
      s.cleanup();
    }
  });
}

test("a toplevel that runs hundreds of nested tasks keeps no descriptor of theirs open", async () => {
  const s = scratch("nested-fds");
  try {
    // The toplevel is the parent of its task's bash; count its descriptors before and after.
    const script = `count() { local fds=(/proc/$PPID/fd/*); echo \${#fds[@]}; }
before=$(count)
for i in $(seq 200); do taskrunner -n "n$i" bash -c 'snapshot; echo "$1" >&2' _ "$i" 2>/dev/null; done
echo "descriptors gained: $(( $(count) - before ))"`;
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(decoder.decode(r.stdout)).toEndWith("[top] stdout | descriptors gained: 0\n");
    expect(r.code).toBe(0);
  } finally {
    s.cleanup();
  }
}, 60_000);

test("a request still arriving when the build ends is told to run the binary", async () => {
  const s = scratch("nested-late");
  try {
    // A background caller that has connected but not finished its request when the toplevel's task ends.
    const script = `( exec {fd}<>"/dev/tcp/127.0.0.1/$_taskrunner_run_port"
  printf '0022\\n' >&$fd
  IFS= read -r -u $fd reply
  echo "[$reply]" > "$PWD/late-reply" ) >/dev/null 2>&1 &
sleep 0.5`;
    const r = await runToEnd(s, ["-n", "top", "bash", "-c", script], { TASKRUNNER_DISABLE_TIMESTAMPS: "1" });
    expect(r.code).toBe(0);
    await waitFor(() => existsSync(join(s.work, "late-reply")));
    await Bun.sleep(100);
    expect(await Bun.file(join(s.work, "late-reply")).text()).toBe("[fallback]\n");
  } finally {
    s.cleanup();
  }
});
