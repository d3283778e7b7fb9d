// `taskrunner --prune-cache`: removes archives from the directory store that
// were not used for more than --max-age days, then the least recently used
// until the rest total at most --max-size (prune-plan.ts). An archive goes
// with its sidecars (prune-scan.ts), and stale temporary files of writes
// whose writer is gone go too.
//
// Removing an archive is safe for a restore reading it: a restore reads from
// the descriptor it opened (fs-store.ts get), and on Unix an unlinked file
// stays readable through an open descriptor (NFS keeps it as .nfsXXXX until
// closed). A restore that opens it after the prune is a plain miss, as is a
// fuzzy-cache pointer left naming it. Just before each removal the archive is
// looked at again: one used (its atime moved: last-used.ts) or replaced since
// the scan is kept.
//
// For S3 there is no prune: see docs/guides/cache-retention.md (an object's
// LastModified says when it was written, not when it was last restored, and
// marking a use would cost every restore a write and a permission).
import { lstat, stat, unlink } from "node:fs/promises";
import { resolve } from "node:path";
import type { Config } from "../config";
import type { PruneLimits } from "../cli-prune";
import { describeError } from "../sys/errors";
import { isInside } from "../sys/paths";
import { STALE_TEMPORARY_MS } from "./fs-store";
import { lastUsedMs } from "./last-used";
import { planPrune } from "./prune-plan";
import { renderEvent, renderSummary, type PruneEvent, type PruneSummary } from "./prune-report";
import { errnoError, scanBundles, type ArchiveEntry, type StoreFile } from "./prune-scan";

type OnEvent = (e: PruneEvent) => void;
/** One prune's running totals and where its events go. */
type Pass = { summary: PruneSummary; onEvent: OnEvent };

/** Where the lines go: stdout for what was done, stderr for what could not be. */
export type Write = (stream: "out" | "err", line: Uint8Array) => void;

/** The whole command, for main.ts: its exit code (0 done, 1 something not removed or not read, 2 nothing to prune). */
export async function pruneCache(config: Config, limits: PruneLimits, write: Write): Promise<number> {
  const fail = (message: string, code: number) => (write("err", line(`taskrunner: ${message}`)), code);
  const dir = config.remoteCacheDir;
  if (dir === null) {
    const store = "a directory store";
    if (config.s3.bucket === null) return fail(`--prune-cache needs ${store}: set TASKRUNNER_REMOTE_CACHE_DIR`, 2);
    const not = `not the bucket s3://${config.s3.bucket}`;
    const instead = "give the bucket a lifecycle rule instead (docs/guides/cache-retention.md)";
    return fail(`--prune-cache prunes ${store} (TASKRUNNER_REMOTE_CACHE_DIR), ${not}: ${instead}`, 2);
  }
  const storeDir = resolve(dir);
  const bundles = resolve(storeDir, `${config.remoteCachePrefix}bundles`);
  if (!isInside(bundles, storeDir)) {
    const prefix = JSON.stringify(config.remoteCachePrefix);
    return fail(`TASKRUNNER_REMOTE_CACHE_PREFIX=${prefix} leaves the cache directory ${storeDir}`, 2);
  }
  try {
    if (!(await stat(storeDir)).isDirectory()) return fail(`cannot prune ${storeDir}: not a directory`, 1);
  } catch (e) {
    // As for builds (fs-store.ts), a missing directory is more likely an unmounted share or a typo than an empty cache.
    const why = gone(e) ? "no such directory" : describeError(e);
    const hint = "TASKRUNNER_REMOTE_CACHE_DIR must name an existing directory: is it mounted?";
    return fail(`cannot prune ${storeDir}: ${why} (${hint})`, 1);
  }
  const summary = await pruneDirectory(storeDir, bundles, limits, (event) => {
    const rendered = renderEvent(event, limits, Date.now());
    write(rendered.stream, rendered.line);
  });
  write("out", renderSummary(summary));
  return summary.failed ? 1 : 0;
}

/** Prunes the archives below bundles (keys start at storeDir), saying each step through onEvent. */
export async function pruneDirectory(
  storeDir: string,
  bundles: string,
  limits: PruneLimits,
  onEvent: OnEvent,
  now = Date.now(),
): Promise<PruneSummary> {
  const scan = await scanBundles(storeDir, bundles);
  const none = { archives: 0, others: 0, freed: 0, kept: 0, keptBytes: 0 };
  const summary: PruneSummary = { where: bundles, ...none, failed: false };
  const pass: Pass = { summary, onEvent };
  for (const { path, error } of scan.unreadable) {
    summary.failed = true;
    onEvent({ kind: "cannot-read", path, error });
  }
  const plan = planPrune(scan.archives, limits, now);
  const kept: ArchiveEntry[] = [];
  for (const entry of plan.expired) if (!(await removeArchive(entry, "age", pass))) kept.push(entry);
  let total = [...plan.byLastUse, ...kept].reduce((sum, a) => sum + a.size, 0);
  for (const entry of plan.byLastUse) {
    const over = limits.maxSize !== null && total > limits.maxSize.bytes;
    if (over && (await removeArchive(entry, "size", pass))) total -= entry.size;
    else kept.push(entry);
  }
  summary.kept = kept.length;
  summary.keptBytes = kept.reduce((sum, a) => sum + a.size, 0);
  for (const file of scan.temporaries) {
    if (now - file.mtimeMs >= STALE_TEMPORARY_MS) await removeLoose(file, "temporary", pass);
  }
  for (const file of scan.orphans) {
    if (now - file.mtimeMs >= STALE_TEMPORARY_MS) await removeLoose(file, "orphan", pass);
  }
  return summary;
}

/** Removes the archive, then its sidecars; false when it stays (used or replaced since the scan, or not removable). */
async function removeArchive(entry: ArchiveEntry, why: "age" | "size", pass: Pass): Promise<boolean> {
  const { summary, onEvent } = pass;
  const { file } = entry;
  const st = await lstat(file.path).catch((e) => e as NodeJS.ErrnoException);
  if (st instanceof Error) return gone(st) || failed(file.path, st, pass);
  if (st.ino !== file.ino || lastUsedMs(st) !== entry.lastUsed) {
    onEvent({ kind: "kept-in-use", file });
    return false;
  }
  try {
    await unlink(file.path);
  } catch (e) {
    // Gone: another prune took it (and takes its sidecars). Not ours to count.
    return gone(e) || failed(file.path, e, pass);
  }
  // After the archive: a reader that found the archive finds its sidecars for as long as the archive is there.
  const removed: StoreFile[] = [];
  for (const sidecar of entry.sidecars) {
    try {
      await unlink(sidecar.path);
      removed.push(sidecar);
    } catch (e) {
      if (!gone(e)) failed(sidecar.path, e, pass);
    }
  }
  summary.archives++;
  summary.freed += file.size + removed.reduce((sum, s) => sum + s.size, 0);
  onEvent({ kind: "removed", entry, sidecars: removed, why });
  return true;
}

/**
 * A stale temporary file, or a sidecar whose archive is gone: removed unless
 * written to since the scan (or, for a sidecar, its archive came meanwhile).
 */
async function removeLoose(file: StoreFile, why: "temporary" | "orphan", pass: Pass): Promise<void> {
  const { summary, onEvent } = pass;
  const st = await lstat(file.path).catch(() => null);
  if (!st || st.ino !== file.ino || st.mtimeMs !== file.mtimeMs) return;
  if (why === "orphan" && (await ownerAppeared(file))) return;
  try {
    await unlink(file.path);
  } catch (e) {
    if (!gone(e)) failed(file.path, e, pass);
    return;
  }
  summary.others++;
  summary.freed += file.size;
  onEvent({ kind: "removed-other", file, why });
}

/** Whether an archive now stands beside an orphan sidecar (written after it, as a signer may do). */
async function ownerAppeared(file: StoreFile): Promise<boolean> {
  // latin1: one character per byte, so the slices are the path's bytes.
  const path = file.path.toString("latin1");
  for (let at = path.indexOf(".tar.zst."); at >= 0; at = path.indexOf(".tar.zst.", at + 1)) {
    if (await lstat(Buffer.from(path.slice(0, at + ".tar.zst".length), "latin1")).catch(() => null)) return true;
  }
  return false;
}

function gone(e: unknown): boolean {
  return (e as { code?: string }).code === "ENOENT";
}

function failed(path: Buffer, e: unknown, { summary, onEvent }: Pass): false {
  summary.failed = true;
  onEvent({ kind: "cannot-remove", path, error: errnoError(e) });
  return false;
}

function line(text: string): Uint8Array {
  return Buffer.from(`${text}\n`);
}
