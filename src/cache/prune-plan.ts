// Which archives --prune-cache removes, in which order: pure, given what the
// scan found (prune-scan.ts) and the time. First every archive not used for
// more than --max-age; then, of the rest, the least recently used first until
// what remains totals at most --max-size. Ties (archives last used in the
// same millisecond: a mount with coarse times) go by key, so a run is
// repeatable.
import type { PruneLimits } from "../cli-prune";
import { DAY_MS } from "../sys/units";
import type { ArchiveEntry } from "./prune-scan";

export interface PrunePlan {
  /** Over --max-age: each goes. */
  expired: ArchiveEntry[];
  /** The rest, least recently used first: they go in this order while the total is over --max-size. */
  byLastUse: ArchiveEntry[];
}

export function planPrune(archives: ArchiveEntry[], limits: PruneLimits, now: number): PrunePlan {
  const expired: ArchiveEntry[] = [];
  const rest: ArchiveEntry[] = [];
  const maxAgeMs = limits.maxAge === null ? null : limits.maxAge.days * DAY_MS;
  for (const a of archives) (maxAgeMs !== null && now - a.lastUsed > maxAgeMs ? expired : rest).push(a);
  const order = (a: ArchiveEntry, b: ArchiveEntry) => a.lastUsed - b.lastUsed || Buffer.compare(a.file.key, b.file.key);
  return { expired: expired.sort(order), byLastUse: rest.sort(order) };
}
