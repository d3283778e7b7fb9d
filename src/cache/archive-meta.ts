// What an archive says about the run that made it (how long it took, so a
// restore can say how much time it saved), carried in a zstd skippable frame
// at the archive's end. Every zstd decoder skips such frames by the format
// (RFC 8878 §3.1.2): the old tool's `tar -x --zstd` restores our archives
// unchanged, the tar inside is the same, and the archive's key (its inputs'
// hash) does not depend on it. An archive without it (the old tool's, an older
// one of ours) just has no duration.

/** One of the sixteen skippable-frame magic numbers (0x184D2A50–5F); the payload's mark tells ours from others'. */
const MAGIC = 0x184d2a5e;
const MARK = "taskrunner archive meta\n";

export interface ArchiveMeta {
  /** How long the task's run took, in ms. */
  runMs: number;
}

export function metaFrame(meta: ArchiveMeta): Buffer {
  const payload = Buffer.from(MARK + JSON.stringify(meta));
  const header = Buffer.alloc(8);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** The payload of a skippable frame, if it is our metadata. */
export function parseMeta(magic: number, payload: Buffer): ArchiveMeta | null {
  if (magic !== MAGIC || payload.length > 4096) return null;
  const text = payload.toString("utf8");
  if (!text.startsWith(MARK)) return null;
  try {
    const v = JSON.parse(text.slice(MARK.length));
    return typeof v?.runMs === "number" && Number.isFinite(v.runMs) && v.runMs >= 0 ? { runMs: v.runMs } : null;
  } catch {
    return null; // not ours after all: an archive is restored all the same
  }
}
