// The shared set-up of the commit-status tests: a fake GitHub API with its
// keys, a scratch directory with a fresh state directory (and build) per test,
// and, at the end, the check that no credential reached any logged line.
import { afterAll, beforeEach, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Env } from "../../src/config";
import { generateTestKeys, githubEnv, leakedSecrets, startFakeGithub, type TestKeys } from "../fakes/github";

export function githubTestBed(name: string, otherKeys: TestKeys[] = []) {
  const keys = generateTestKeys();
  const fake = startFakeGithub({ publicKey: keys.publicKey });
  const scratch = mkdtempSync(join(tmpdir(), `taskrunner-${name}-`));
  const allLines: string[] = [];
  const bed = {
    keys,
    fake,
    scratch,
    /** Every line any test logged; checked for secrets after all tests. */
    allLines,
    /** A fresh state directory for each test. */
    stateDir: "",
    /** The state directory and a build directory in it (where the build's GitHub fault budget is kept). */
    get places() {
      return { stateDir: bed.stateDir, buildDir: join(bed.stateDir, "builds", "b") };
    },
    /** The same state directory, and another build. */
    anotherBuild() {
      return { stateDir: bed.stateDir, buildDir: mkdtempSync(join(bed.stateDir, "build-")) };
    },
    config(overrides: Env = {}) {
      const env: Env = { ...githubEnv(fake, keys), ...overrides };
      for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
      return loadConfig(env, scratch);
    },
  };
  beforeEach(() => {
    fake.reset();
    bed.stateDir = mkdtempSync(join(scratch, "state-"));
  });
  afterAll(async () => {
    // No credential in any line any test logged.
    for (const k of [keys, ...otherKeys]) expect(leakedSecrets(allLines.join("\n"), fake, k)).toEqual([]);
    await fake.stop();
    rmSync(scratch, { recursive: true, force: true });
  });
  return bed;
}
