// Keeps credentials out of every line this module logs. The runner's log file
// is uploaded (TASKRUNNER_UPLOAD_LOGS) and linked from public commit statuses,
// so a private key, JWT or installation token in a warn line would be a leak.
// Known secrets are replaced exactly; patterns catch what we never saw (a
// proxy's error page echoing an Authorization header, say).
import type { Log } from "./index";

const REDACTED = "[REDACTED]";

const PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  // A JWT: three base64url parts, the first a JSON header ("eyJ" = '{"').
  /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g,
  // GitHub token formats (installation tokens are ghs_…).
  /\bgh[opsur]_[A-Za-z0-9_]{16,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{16,}/g,
];
// `Authorization: Bearer x`, `token=x`, `"token": "x"`: the word, a separator, maybe a scheme, a secret.
const AUTH_HEADER = /\b(authorization|bearer|token)((?:["']?\s*[:=]\s*["']?)|\s+)((?:bearer|token)\s+)?[A-Za-z0-9._~+/=-]{16,}/gi;

export class Secrets {
  private readonly known = new Set<string>();

  add(secret: string | null | undefined): void {
    if (!secret) return;
    this.known.add(secret);
    // A key can surface a line at a time (an error quoting part of the PEM).
    for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 16) this.known.add(line.trim());
  }

  scrub(text: string): string {
    let out = text;
    // Longest first, so a whole key goes before one of its lines.
    for (const s of [...this.known].sort((a, b) => b.length - a.length)) out = out.replaceAll(s, REDACTED);
    for (const p of PATTERNS) out = out.replace(p, REDACTED);
    return out.replace(AUTH_HEADER, (_m, word: string, sep: string, scheme?: string) => `${word}${sep}${scheme ?? ""}${REDACTED}`);
  }

  /** A Log that scrubs every line and keeps each one on a single line. */
  wrap(log: Log): Log {
    const clean = (m: string) => this.scrub(m).replace(/\s*[\r\n]+\s*/g, " ");
    return { warn: (m) => log.warn(clean(m)), debug: (m) => log.debug(clean(m)) };
  }
}

/** An error as one short line, without a stack. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const prefix = typeof code === "string" && !e.message.includes(code) ? `${code}: ` : "";
    return `${prefix}${e.message || e.name}`;
  }
  return String(e);
}
