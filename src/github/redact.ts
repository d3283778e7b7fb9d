// Keeps credentials out of every line this module logs. The runner's log file
// is uploaded (TASKRUNNER_UPLOAD_LOGS) and linked from public commit statuses,
// so a private key, JWT or installation token in a warn line would be a leak.
// Known secrets are removed in any fragment of FRAGMENT characters or more —
// an error page may echo a token cut short, or only a JWT's signature part;
// patterns catch what we never saw (a proxy's error page echoing an
// Authorization header, say).
import type { Log } from "../sys/log";

const REDACTED = "[REDACTED]";

/** The shortest piece of a secret that is redacted wherever it appears. */
export const FRAGMENT = 8;

const PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  // A JWT: three base64url parts, the first a JSON header ("eyJ" = '{"').
  /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
  // GitHub token formats (installation tokens are ghs_…).
  /\bgh[opsur]_[A-Za-z0-9_]{16,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{16,}/g,
];
// `Authorization: Bearer x`, `token=x`, `"token": "x"`: the word, a separator, maybe a scheme, a secret.
const AUTH_HEADER =
  /\b(authorization|bearer|token)((?:["']?\s*[:=]\s*["']?)|\s+)((?:bearer|token)\s+)?[A-Za-z0-9._~+/=-]{16,}/gi;

// A PEM's armour lines ("-----BEGIN RSA PRIVATE KEY-----") are no secret, and
// redacting their pieces would blank our own messages about keys.
const ARMOUR = /^-----(BEGIN|END) /;

export class Secrets {
  /** Every FRAGMENT-character piece of every known secret. */
  private readonly pieces = new Set<string>();

  add(secret: string | null | undefined): void {
    if (!secret) return;
    // A key's lines are split by newlines, or by `|` or `\n` in single-line settings.
    for (const part of secret.split(/\r?\n|\|/)) {
      const line = part.trim();
      if (ARMOUR.test(line)) continue;
      for (let i = 0; i + FRAGMENT <= line.length; i++) this.pieces.add(line.slice(i, i + FRAGMENT));
    }
  }

  scrub(text: string): string {
    let out = this.removePieces(text);
    for (const p of PATTERNS) out = out.replace(p, REDACTED);
    return out.replace(
      AUTH_HEADER,
      (_m, word: string, sep: string, scheme?: string) => `${word}${sep}${scheme ?? ""}${REDACTED}`,
    );
  }

  /**
   * Each run of characters covered by known pieces becomes one REDACTED: any
   * substring of a secret at least FRAGMENT long is such a run (every window
   * of it is a piece), so no fragment that long survives.
   */
  private removePieces(text: string): string {
    if (this.pieces.size === 0) return text;
    let out = "";
    let copied = 0; // text before this is in out
    let coveredTo = -1; // end of the current redacted run
    for (let i = 0; i + FRAGMENT <= text.length; i++) {
      if (!this.pieces.has(text.slice(i, i + FRAGMENT))) continue;
      if (i > coveredTo) {
        // A new run: keep what lies between the last one and this.
        if (coveredTo >= 0) out += REDACTED;
        out += text.slice(copied, i);
      }
      coveredTo = i + FRAGMENT;
      copied = coveredTo;
    }
    if (coveredTo >= 0) out += REDACTED;
    return out + text.slice(copied);
  }

  /** A Log that scrubs every line and keeps each one on a single line. */
  wrap(log: Log): Log {
    const clean = (m: string) => this.scrub(m).replace(/\s*[\r\n]+\s*/g, " ");
    return { warn: (m) => log.warn(clean(m)), debug: (m) => log.debug(clean(m)) };
  }
}
