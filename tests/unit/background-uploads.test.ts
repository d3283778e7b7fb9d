// The toplevel's background uploads (src/task/background-uploads.ts): an upload reports its own
// faults; one that throws anyway is a bug, and must not vanish without a line in the debug log.
import { test, expect } from "bun:test";
import { BackgroundUploads } from "../../src/task/background-uploads";

test("an upload that throws is said at debug, and the others still finish", async () => {
  const uploads = new BackgroundUploads();
  const said: string[] = [];
  let finished = false;
  uploads.add(
    "broken",
    async () => {
      throw new Error("archive writer crashed");
    },
    (m) => said.push(m),
  );
  uploads.add(
    "fine",
    async () => {
      await Bun.sleep(5);
      finished = true;
    },
    (m) => said.push(m),
  );
  expect(await uploads.settle(10_000)).toEqual([]);
  expect(finished).toBe(true);
  expect(said).toEqual(["The background upload of broken failed: archive writer crashed"]);
});
