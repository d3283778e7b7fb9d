// Start-up and per-task overhead of the compiled binary.
// Budget: --version ≤ 8 ms; a nested no-op task ≤ 10 ms over a bare spawn.
import { BINARY, timeCommand, timeInterleaved, scratchDir, row } from "./lib";
import { join } from "node:path";

const state = scratchDir("startup");
const env = { ...process.env, TASKRUNNER_STATE_DIRECTORY: join(state, "state") } as Record<string, string>;
const N = 20;

console.log("## start-up (median of 40 runs)");
const trueMs = timeCommand(["true"], { env });
console.log(row("true (baseline: a bare spawn)", trueMs));
// The floor for any compiled Bun program on this machine.
const hello = join(state, "hello");
await Bun.write(join(state, "hello.ts"), 'console.log("hi");');
await Bun.build({ entrypoints: [join(state, "hello.ts")], compile: { outfile: hello }, minify: true, bytecode: true });
const helloMs = timeCommand([hello], { env });
console.log(row("compiled Bun hello-world (the floor)", helloMs, trueMs));
console.log(row("taskrunner --version", timeCommand([BINARY, "--version"], { env }), trueMs));
console.log(row("taskrunner -n x true", timeCommand([BINARY, "-n", "x", "true"], { env }), trueMs));

// The same toplevel either spawns N bare `true`s or N nested no-op tasks; the
// difference per task is what a nested taskrunner costs over a bare spawn.
// `taskrunner` on PATH: bash finds the exported function (nested tasks inside
// the toplevel); with TASKRUNNER_NESTED_PROCESSES=1, a process per task.
const path = `${join(BINARY, "..")}:${env.PATH}`;
const loop = (body: string) => [BINARY, "-n", "top", "bash", "-c", `for i in $(seq ${N}); do ${body}; done`];
const [bare, nested, processes] = timeInterleaved(
  [
    { argv: loop("/bin/true"), env: { ...env, PATH: path } },
    { argv: loop('taskrunner -n "n$i" true'), env: { ...env, PATH: path } },
    { argv: loop('taskrunner -n "n$i" true'), env: { ...env, PATH: path, TASKRUNNER_NESTED_PROCESSES: "1" } },
  ],
  15,
);
console.log(`\n## ${N} nested no-op tasks in one toplevel (median of 15 interleaved runs)`);
console.log(row(`toplevel spawning ${N} bare processes (baseline)`, bare));
console.log(row(`toplevel running ${N} nested no-op tasks`, nested, bare));
console.log(row(`  the same, TASKRUNNER_NESTED_PROCESSES=1`, processes, bare));
console.log(row("per nested task, over a bare spawn", (nested - bare) / N));
console.log(row("  the same, TASKRUNNER_NESTED_PROCESSES=1", (processes - bare) / N));
