// Start-up and per-task overhead of the compiled binary.
// Budget: --version ≤ 6 ms; a nested no-op task ≤ 10 ms over a bare spawn.
//
//   bun bench/startup.ts
//   TASKRUNNER_BASELINE_BINARY=/path/to/older/taskrunner bun bench/startup.ts
//     also runs an older build, interleaved with this one, row for row.
import { BINARY, timeInterleaved, scratchDir, row } from "./lib";
import { join } from "node:path";

const state = scratchDir("startup");
const env = { ...process.env, TASKRUNNER_STATE_DIRECTORY: join(state, "state") } as Record<string, string>;
const N = 50;
const RUNS = 40;
const baseline = process.env.TASKRUNNER_BASELINE_BINARY;
const binaries: [string, string][] = [
  ...(baseline ? [["baseline: ", baseline] as [string, string]] : []),
  ["", BINARY],
];

console.log(`## start-up (median of ${RUNS} interleaved runs)`);
// The floor for any compiled Bun program on this machine.
const hello = join(state, "hello");
await Bun.write(join(state, "hello.ts"), 'console.log("hi");');
await Bun.build({ entrypoints: [join(state, "hello.ts")], compile: { outfile: hello }, minify: true, bytecode: true });
// --help, and -nx (a spelling only citty parses; older builds refuse it), load src/usage.ts, citty's entry.
const starts = binaries.flatMap(([prefix, bin]) => {
  const older = prefix !== "";
  return [
    { key: "version", older, label: `${prefix}taskrunner --version`, argv: [bin, "--version"], env },
    { key: "help", older, label: `${prefix}taskrunner --help`, argv: [bin, "--help"], env },
    { key: "run", older, label: `${prefix}taskrunner -n x true`, argv: [bin, "-n", "x", "true"], env },
    ...(older ? [] : [{ key: "citty", older, label: "taskrunner -nx true", argv: [bin, "-nx", "true"], env }]),
  ];
});
const [trueMs, helloMs, ...times] = timeInterleaved([{ argv: ["true"], env }, { argv: [hello], env }, ...starts], RUNS);
console.log(row("true (baseline: a bare spawn)", trueMs));
console.log(row("compiled Bun hello-world (the floor)", helloMs, trueMs));
const timeOf = (key: string, older: boolean) => times[starts.findIndex((s) => s.key === key && s.older === older)];
// Each row against: the same row of the older build, or (-nx) this build's -n x, or a bare spawn.
for (const [i, s] of starts.entries()) {
  const against = s.key === "citty" ? timeOf("run", false) : baseline && !s.older ? timeOf(s.key, true) : trueMs;
  console.log(row(s.label, times[i], against));
}

// The same toplevel either spawns N bare `true`s or N nested no-op tasks; the
// difference per task is what a nested taskrunner costs over a bare spawn.
// `taskrunner` on PATH: bash finds the exported function (nested tasks inside
// the toplevel); with TASKRUNNER_NESTED_PROCESSES=1, a process per task.
const NESTED_RUNS = 15;
const loop = (bin: string, body: string) => [bin, "-n", "top", "bash", "-c", `for i in $(seq ${N}); do ${body}; done`];
const pathOf = (bin: string) => `${join(bin, "..")}:${env.PATH}`;
const nestedCases = binaries.flatMap(([prefix, bin]) => [
  {
    label: `${prefix}toplevel spawning ${N} bare processes`,
    argv: loop(bin, "/bin/true"),
    env: { ...env, PATH: pathOf(bin) },
  },
  {
    label: `${prefix}toplevel running ${N} nested no-op tasks`,
    argv: loop(bin, 'taskrunner -n "n$i" true'),
    env: { ...env, PATH: pathOf(bin) },
  },
  {
    label: `${prefix}  the same, TASKRUNNER_NESTED_PROCESSES=1`,
    argv: loop(bin, 'taskrunner -n "n$i" true'),
    env: { ...env, PATH: pathOf(bin), TASKRUNNER_NESTED_PROCESSES: "1" },
  },
]);
const nested = timeInterleaved(nestedCases, NESTED_RUNS);
console.log(`\n## ${N} nested no-op tasks in one toplevel (median of ${NESTED_RUNS} interleaved runs)`);
const perTask = binaries.map(([prefix], b) => {
  const [bare, served, processes] = nested.slice(b * 3, b * 3 + 3);
  console.log(row(nestedCases[b * 3].label, bare));
  console.log(row(nestedCases[b * 3 + 1].label, served, bare));
  console.log(row(nestedCases[b * 3 + 2].label, processes, bare));
  return { prefix, served: (served - bare) / N, processes: (processes - bare) / N };
});
for (const [i, p] of perTask.entries()) {
  const base = baseline && i > 0 ? perTask[0] : undefined;
  console.log(row(`${p.prefix}per nested task, over a bare spawn`, p.served, base?.served));
  console.log(row(`${p.prefix}  the same, TASKRUNNER_NESTED_PROCESSES=1`, p.processes, base?.processes));
}
