// action.yml, the composite setup action: its steps run as the Actions runner
// runs a `shell: bash` step (bash --noprofile --norc -eo pipefail FILE, the
// step's env with its ${{ }} expressions filled in, GITHUB_PATH/GITHUB_OUTPUT
// files, GITHUB_ACTION_PATH = this repository), against a local release
// folder served over HTTP as tests/install.test.ts serves its releases.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { serveStatic, type StaticServer } from "./fakes/http-static";

const REPO = resolve(import.meta.dir, "..");
const ASSET = "taskrunner-linux-x64";

let root: string;
let server: StaticServer;

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "setup-action-")));
  const www = join(root, "www");
  for (const [name, sums] of [
    ["good", null],
    ["tampered", "0".repeat(64)],
  ] as const) {
    const dir = join(www, name);
    mkdirSync(dir, { recursive: true });
    const binary = `#!/bin/sh\necho "taskrunner 9.9.9 (fake ${ASSET})"\n`;
    writeFileSync(join(dir, ASSET), binary);
    chmodSync(join(dir, ASSET), 0o755);
    writeFileSync(join(dir, "SHA256SUMS"), `${sums ?? createHash("sha256").update(binary).digest("hex")}  ${ASSET}\n`);
  }
  server = serveStatic(www);
});
afterAll(() => {
  server.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Step {
  id?: string;
  shell: string;
  env?: Record<string, string>;
  run: string;
}

/** The action's steps run in order, as the runner would: what they printed, and the files they wrote. */
async function runAction(
  inputs: Record<string, string>,
  github: { action_ref: string },
  extraEnv: Record<string, string> = {},
) {
  const action = Bun.YAML.parse(readFileSync(join(REPO, "action.yml"), "utf8")) as {
    inputs: Record<string, { default: string }>;
    runs: { using: string; steps: Step[] };
  };
  expect(action.runs.using).toBe("composite");
  const job = mkdtempSync(join(root, "job-"));
  const files = { GITHUB_PATH: join(job, "path"), GITHUB_OUTPUT: join(job, "output") };
  for (const f of Object.values(files)) writeFileSync(f, "");
  const expr = (value: string) =>
    value.replace(/\$\{\{\s*(inputs|github)\.([\w-]+)\s*\}\}/g, (_, scope: string, name: string) =>
      scope === "inputs"
        ? (inputs[name] ?? action.inputs[name]?.default ?? "")
        : ((github as Record<string, string>)[name] ?? ""),
    );
  let stdout = "";
  let stderr = "";
  for (const step of action.runs.steps) {
    expect(step.shell).toBe("bash");
    const script = join(job, `${step.id ?? "step"}.sh`);
    writeFileSync(script, step.run);
    const env: Record<string, string> = {
      PATH: process.env.PATH!,
      HOME: job,
      RUNNER_TEMP: join(job, "tmp"),
      GITHUB_ACTION_PATH: REPO,
      ...files,
      // install.sh's own knobs, so that the host's CPU does not choose the asset.
      TASKRUNNER_INSTALL_OS: "Linux",
      TASKRUNNER_INSTALL_ARCH: "x86_64",
      TASKRUNNER_INSTALL_LIBC: "glibc",
      ...extraEnv,
    };
    for (const [k, v] of Object.entries(step.env ?? {})) env[k] = expr(v);
    const p = Bun.spawn(["bash", "--noprofile", "--norc", "-eo", "pipefail", script], {
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    stdout += out;
    stderr += err;
    if (code !== 0)
      return {
        code,
        stdout,
        stderr,
        path: readFileSync(files.GITHUB_PATH, "utf8"),
        output: readFileSync(files.GITHUB_OUTPUT, "utf8"),
        job,
      };
  }
  return {
    code: 0,
    stdout,
    stderr,
    path: readFileSync(files.GITHUB_PATH, "utf8"),
    output: readFileSync(files.GITHUB_OUTPUT, "utf8"),
    job,
  };
}

test("installs the checked binary and puts it on PATH for the next steps", async () => {
  const r = await runAction({ "download-url": `${server.url}/good` }, { action_ref: "main" });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  const dir = join(r.job, "tmp", "taskrunner-bin");
  expect(r.path).toBe(`${dir}\n`);
  expect(r.output).toBe(`version=taskrunner 9.9.9 (fake ${ASSET})\npath=${dir}/taskrunner\n`);
  expect(r.stdout).toEndWith(`taskrunner 9.9.9 (fake ${ASSET}) is on PATH (${dir})\n`);
  // A later step finds it by name.
  const later = Bun.spawnSync(["bash", "-c", "taskrunner --version"], {
    env: { PATH: `${r.path.trim()}:/usr/bin:/bin` },
  });
  expect(later.stdout.toString()).toBe(`taskrunner 9.9.9 (fake ${ASSET})\n`);
});

test("a binary that does not match SHA256SUMS fails the step loudly, and nothing is put on PATH", async () => {
  const r = await runAction({ "download-url": `${server.url}/tampered` }, { action_ref: "main" });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("taskrunner install: error:");
  expect(r.stderr).toContain(`checksum mismatch for ${ASSET}`);
  expect(r.stdout).toContain(
    "::error title=taskrunner setup failed::install.sh could not install taskrunner (its error is in the lines above)\n",
  );
  expect(r.path).toBe("");
  expect(existsSync(join(r.job, "tmp", "taskrunner-bin", "taskrunner"))).toBe(false);
});

test("used at a release tag, with no version given, it installs that release", async () => {
  // No network here: the download fails at once through a proxy nobody listens on, and the error names the release it tried.
  const dead = { https_proxy: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9" };
  const r = await runAction({}, { action_ref: "v1.2.0" }, dead);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("releases/download/v1.2.0/");
  expect(r.stdout).toContain("::error title=taskrunner setup failed::install.sh could not install taskrunner v1.2.0");
  // An explicit version wins over the tag.
  const chosen = await runAction({ version: "1.3.0" }, { action_ref: "v1.2.0" }, dead);
  expect(chosen.stderr).toContain("releases/download/v1.3.0/");
}, 60_000);
