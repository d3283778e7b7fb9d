// Signed cache objects (TASKRUNNER_CACHE_SIGNING_KEY, TASKRUNNER_CACHE_TRUSTED_KEYS).
//
// A signature lives in a sidecar object beside what it signs: `<key>.sig`
// beside `<prefix>bundles/<archive>` and beside `<prefix>latest/<job>-<branch>.txt`.
// The archive and the pointer stay byte for byte what the old tool writes and
// reads, so it restores our archives unchanged and ignores the sidecars.
//
// The sidecar holds a statement (JSON text, signed as it stands, so no
// canonical form is needed), the signer's key id and an Ed25519 signature of
// "taskrunner-signature-v1\n" + statement. The statement binds the bytes
// (SHA-256 and size) to the key they are stored under, relative to the prefix
// (a whole cache copied to another prefix still verifies), and to the job,
// cache version and hash (an archive) or branch and hash (a pointer): a copy
// under another key, or a pointer moved to another archive, does not verify.
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CacheKeysConfig } from "../config";
import { describeError } from "../sys/errors";

/** The sidecar of key K is K + this. (Exported for retention: a pruned archive takes its sidecar along.) */
export const SIGNATURE_SUFFIX = ".sig";
const DOMAIN = "taskrunner-signature-v1\n";

export function sidecarKey(key: string): string {
  return key + SIGNATURE_SUFFIX;
}

/** What an object is, besides its bytes: the fields a verifier compares with what it asked for. */
export type Identity =
  | { kind: "archive"; job: string; version: string | null; hash: string }
  | { kind: "pointer"; job: string; branch: string; hash: string };

export interface Statement {
  /** The object key below the prefix: "bundles/<archive>" or "latest/<job>-<branch>.txt". */
  key: string;
  identity: Identity | null;
  size: number;
  sha256: string;
}

export interface Signer {
  id: string;
  key: KeyObject;
  /** The signer's own public key: a build that signs also trusts what it signed. */
  publicKey: KeyObject;
}

export interface Keys {
  signer: Signer | null;
  /** null: no verification asked for (TASKRUNNER_CACHE_TRUSTED_KEYS unset). */
  trusted: Map<string, KeyObject> | null;
  /** Said once, as warnings: a key that cannot be used. */
  problems: string[];
}

/** The short id a message names a key by: the first 16 hex digits of the SHA-256 of its DER (SPKI) form. */
export function keyId(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest("hex")
    .slice(0, 16);
}

/**
 * The keys the settings name. A key that cannot be used never fails a task:
 * a bad signing key means nothing is uploaded, bad trusted keys mean nothing
 * is restored (an empty trusted set refuses everything), each said once.
 * Messages never quote the signing key's value: it may be the key itself.
 */
export function loadKeys(cfg: CacheKeysConfig): Keys {
  const problems: string[] = [];
  let signer: Signer | null = null;
  if (cfg.signingKey !== null) {
    const loaded = loadSigner(cfg.signingKey);
    if ("problem" in loaded) {
      problems.push(`TASKRUNNER_CACHE_SIGNING_KEY ${loaded.problem}; nothing is uploaded to the remote cache`);
    } else signer = loaded;
  }
  let trusted: Map<string, KeyObject> | null = null;
  if (cfg.trustedKeys !== null) {
    trusted = new Map();
    const loaded = loadTrusted(cfg.trustedKeys);
    if ("problem" in loaded) {
      problems.push(`TASKRUNNER_CACHE_TRUSTED_KEYS ${loaded.problem}; no remote cache is restored`);
    } else for (const k of loaded.keys) trusted.set(keyId(k), k);
  }
  return { signer, trusted, problems };
}

/** PEM text as given, or the file the value names. */
function pemOf(value: string): { text: string } | { problem: string } {
  const v = value.includes("\n") || !value.includes("|") ? value : value.replaceAll("|", "\n");
  if (v.includes("-----BEGIN")) return { text: v };
  try {
    return { text: readFileSync(v.trim(), "utf8") };
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? describeError(e);
    return { problem: `is neither PEM text nor a readable file (${why})` };
  }
}

function loadSigner(value: string): Signer | { problem: string } {
  const pem = pemOf(value);
  if ("problem" in pem) return pem;
  let key: KeyObject;
  try {
    key = createPrivateKey(pem.text);
  } catch {
    return { problem: "does not hold a private key in PEM form (make one with: openssl genpkey -algorithm ed25519)" };
  }
  if (key.asymmetricKeyType !== "ed25519") {
    return { problem: `holds a ${key.asymmetricKeyType} key, not an Ed25519 one` };
  }
  const publicKey = createPublicKey(key);
  return { id: keyId(publicKey), key, publicKey };
}

function loadTrusted(value: string): { keys: KeyObject[] } | { problem: string } {
  const pem = pemOf(value);
  if ("problem" in pem) return pem;
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.text)) {
    return { problem: "holds a private key: give the public keys only (openssl pkey -in key.pem -pubout)" };
  }
  const blocks = pem.text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) return { problem: "holds no public key (-----BEGIN PUBLIC KEY----- block)" };
  const keys: KeyObject[] = [];
  for (const [i, block] of blocks.entries()) {
    let key: KeyObject;
    try {
      key = createPublicKey(block);
    } catch (e) {
      return { problem: `key ${i + 1} does not parse: ${describeError(e)}` };
    }
    if (key.asymmetricKeyType !== "ed25519") {
      return { problem: `key ${i + 1} is a ${key.asymmetricKeyType} key, not an Ed25519 one` };
    }
    keys.push(key);
  }
  return { keys };
}

/** The sidecar's text for a statement, signed. */
export function signStatement(signer: Signer, s: Statement): string {
  const statement = JSON.stringify({ key: s.key, ...(s.identity ?? {}), size: s.size, sha256: s.sha256 });
  const signature = sign(null, Buffer.from(DOMAIN + statement), signer.key).toString("base64");
  return `${JSON.stringify({ format: "taskrunner-signature-v1", signer: signer.id, statement, signature })}\n`;
}

/** Why a signature was refused: the start of a message that names the object before it. */
export type Refusal = {
  why: "unsigned" | "unknown-key" | "bad-signature" | "other-key" | "bytes-changed" | "malformed";
  text: string;
};

export type Checked = { ok: true; signer: string; size: number; sha256: string } | { ok: false; refusal: Refusal };

/**
 * Checks a sidecar (null: none) against the trusted keys and what the object
 * must be; the bytes are checked later, against the returned digest.
 */
export function checkSidecar(
  sidecar: string | null,
  trusted: Map<string, KeyObject>,
  expected: Omit<Statement, "size" | "sha256">,
): Checked {
  const refuse = (why: Refusal["why"], text: string): Checked => ({ ok: false, refusal: { why, text } });
  if (sidecar === null) return refuse("unsigned", `is not signed (no ${SIGNATURE_SUFFIX} beside it)`);
  let outer: { format?: unknown; signer?: unknown; statement?: unknown; signature?: unknown };
  try {
    outer = JSON.parse(sidecar);
  } catch {
    return refuse("malformed", `has a signature file that is not a taskrunner signature`);
  }
  const { signer, statement, signature } = outer ?? {};
  const strings = [signer, statement, signature].every((v) => typeof v === "string");
  if (outer?.format !== "taskrunner-signature-v1" || !strings) {
    return refuse("malformed", `has a signature file that is not a taskrunner signature`);
  }
  const id = String(signer).slice(0, 16);
  const key = trusted.get(id);
  if (!key) return refuse("unknown-key", `is signed by key ${id}, which is not one of TASKRUNNER_CACHE_TRUSTED_KEYS`);
  let good = false;
  try {
    good = verify(null, Buffer.from(DOMAIN + statement), key, Buffer.from(String(signature), "base64"));
  } catch {
    good = false;
  }
  if (!good) {
    const text = `has a signature that does not verify with key ${id} (the signature file was altered)`;
    return refuse("bad-signature", text);
  }
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(String(statement));
  } catch {
    return refuse("malformed", `has a signed statement that does not parse`);
  }
  const wanted: Record<string, unknown> = { key: expected.key, ...(expected.identity ?? {}) };
  for (const [field, value] of Object.entries(wanted)) {
    if (s[field] !== value) return refuse("other-key", `is signed by key ${id} for ${describe(s)}, not for this key`);
  }
  if (typeof s.size !== "number" || typeof s.sha256 !== "string") {
    return refuse("malformed", `has a signed statement without a digest`);
  }
  return { ok: true, signer: id, size: s.size, sha256: s.sha256 };
}

function describe(s: Record<string, unknown>): string {
  const parts = [`${s.key}`];
  if (typeof s.job === "string") parts.push(`job ${s.job}`);
  if (typeof s.version === "string") parts.push(`version ${s.version}`);
  if (typeof s.branch === "string") parts.push(`branch ${s.branch}`);
  if (typeof s.hash === "string") parts.push(`hash ${s.hash}`);
  return parts.join(", ");
}

/** SHA-256 and size of the bytes seen so far, fed chunk by chunk as they stream past. */
export class Digest {
  private readonly hash = createHash("sha256");
  size = 0;

  update = (chunk: Buffer): void => {
    this.hash.update(chunk);
    this.size += chunk.length;
  };

  hex(): string {
    return this.hash.digest("hex");
  }
}

/** Thrown between extraction and the moves into the work tree: the bytes are not the ones signed. */
export class SignatureRefused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.text);
    this.name = "SignatureRefused";
  }
}

/** The check that restore runs once every byte was read: throws SignatureRefused when they are not the signed ones. */
export function bytesCheck(checked: Extract<Checked, { ok: true }>, digest: Digest): () => void {
  return () => {
    const sha = digest.hex();
    if (digest.size !== checked.size || sha !== checked.sha256) {
      const how = digest.size === checked.size ? "its SHA-256 differs" : `${digest.size} bytes, ${checked.size} signed`;
      throw new SignatureRefused({
        why: "bytes-changed",
        text: `does not match its signature by key ${checked.signer}: its bytes changed since it was signed (${how})`,
      });
    }
  };
}
