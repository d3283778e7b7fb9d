// git's whole message reaches the user when hashing fails, on the compiled
// binary with real repositories: the paths a sparse checkout keeps out, and
// the safe.directory command for a repository another user owns.
import { test, expect, beforeAll } from "bun:test";
import { chownSync } from "node:fs";
import { ensureBinary } from "./helpers/binary";
import { endedText, scratch, taskrunner } from "./helpers/run";
import { sh } from "./fakes/git-repo";

beforeAll(ensureBinary, 120_000);

const quiet = { TASKRUNNER_DISABLE_TIMESTAMPS: "1" };

test("a sparse checkout: git's message names the paths outside it, and its hints", async () => {
  const s = scratch("git-messages");
  try {
    sh(
      s.work,
      "git init -q . && mkdir in other && echo a > in/a && echo x > other/x && git add . && git commit -qm i && git sparse-checkout set in && mkdir -p other && echo y > other/x",
    );
    const r = await endedText(
      taskrunner(s, ["-n", "sparse", "bash", "-c", "snapshot other/x in; echo not reached"], quiet),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      [
        "[sparse] error | snapshot: The following paths and/or pathspecs matched paths that exist",
        "[sparse] error | outside of your sparse-checkout definition, so will not be",
        "[sparse] error | updated in the index:",
        "[sparse] error | other/x",
        "[sparse] error | hint: If you intend to update such entries, try one of the following:",
        "[sparse] error | hint: * Use the --sparse option.",
        "[sparse] error | hint: * Disable or modify the sparsity rules.",
        "",
      ].join("\n"),
    );
  } finally {
    s.cleanup();
  }
}, 60_000);

// Giving the repository to another user needs root (CI runs the tests as root).
test.skipIf(process.getuid?.() !== 0)(
  "a repository owned by another user: git's safe.directory command is part of the error",
  async () => {
    const s = scratch("git-messages");
    try {
      sh(s.work, "git init -q . && echo a > a && git add a && git commit -qm i");
      // Owned by nobody (65534), run as this user: git refuses it as of 2.35.2.
      sh(s.work, "chown -R 65534:65534 .");
      chownSync(s.work, 65534, 65534);
      const r = await endedText(taskrunner(s, ["-n", "owned", "bash", "-c", "snapshot a; echo not reached"], quiet));
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        [
          `[owned] error | snapshot: detected dubious ownership in repository at '${s.work}'`,
          "[owned] error | To add an exception for this directory, call:",
          `[owned] error | git config --global --add safe.directory ${s.work}`,
          "",
        ].join("\n"),
      );
    } finally {
      s.cleanup();
    }
  },
  60_000,
);
