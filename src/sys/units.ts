// Sizes and ages as people type and read them: `--max-size 20G`, "12.3 MiB",
// "last used 45 days ago". Pure, so that the command line and the prune
// report (cache/prune-report.ts) agree on every spelling.

const UNITS = ["K", "M", "G", "T"] as const;
export const DAY_MS = 86_400_000;

/**
 * A number of days: a plain decimal (`30`, `0.5`), never negative. null when
 * the text is not one. No exponent or sign: `1e3` or `+7` in a cron line is
 * more likely a typo than a wish.
 */
export function parseDays(text: string): number | null {
  return /^\d+(\.\d+)?$/.test(text) ? Number(text) : null;
}

/**
 * A size in bytes: a plain number of bytes, or a decimal with K, M, G or T —
 * powers of 1024, as `du -h` and `sort -h` read them — optionally followed by
 * B or iB, any case (`500M`, `20G`, `1.5gib`, `1048576`). null when the text
 * is not one.
 */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$/i.exec(text);
  if (!m || (m[3]?.toLowerCase() === "ib" && m[2] === "")) return null;
  const power = m[2] === "" ? 0 : UNITS.indexOf(m[2].toUpperCase() as (typeof UNITS)[number]) + 1;
  return Math.floor(Number(m[1]) * 1024 ** power);
}

/** "0 B", "512 B", "1.5 KiB", "12.3 MiB", "1.4 GiB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}iB`;
}

/** A duration, rounded down to what a person reads at a glance: "under a minute", "1 minute", "5 hours", "45 days". */
export function formatAge(ms: number): string {
  const minutes = Math.floor(Math.max(0, ms) / 60_000);
  if (minutes < 1) return "under a minute";
  if (minutes < 120) return plural(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return plural(hours, "hour");
  return plural(Math.floor(hours / 24), "day");
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
