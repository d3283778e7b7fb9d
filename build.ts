// Compiles src/main.ts into one self-contained executable: dist/taskrunner (host).
import pkg from "./package.json";

async function gitCommit(): Promise<string> {
  const p = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { stderr: "ignore" });
  return p.success ? p.stdout.toString().trim() : "unknown";
}

const version = `${pkg.version} (${await gitCommit()})`;
const outfile = "dist/taskrunner";
const result = await Bun.build({
  entrypoints: ["src/main.ts"],
  compile: { outfile },
  minify: true,
  bytecode: true,
  define: { TASKRUNNER_BUILD_VERSION: JSON.stringify(version) },
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} ${version}`);
