// npm run bench: every benchmark, one after another, against dist/taskrunner.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./lib";

const build = Bun.spawnSync([process.execPath, "build.ts"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
if (!build.success) process.exit(1);
const only = process.argv[2];
for (const file of readdirSync(import.meta.dir)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "lib.ts"].includes(f))
  .sort()) {
  if (only && !file.includes(only)) continue;
  console.log(`\n# ${file}`);
  const p = Bun.spawnSync([process.execPath, join(import.meta.dir, file)], { stdout: "inherit", stderr: "inherit" });
  if (!p.success) process.exit(1);
}
