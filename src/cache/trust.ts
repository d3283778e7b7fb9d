// Which prefixes a build reads and writes, and what it requires of what it
// reads there (signature.ts): the policy of TASKRUNNER_CACHE_TRUSTED_KEYS,
// TASKRUNNER_CACHE_SIGNING_KEY, TASKRUNNER_REMOTE_CACHE_FALLBACK_PREFIXES and
// TASKRUNNER_CACHE_TRUST_OWN_PREFIX, apart from the transfers (index.ts).
import { createHash, type KeyObject } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { Config } from "../config";
import type { ObjectStore } from "./store";
import { describeError } from "../sys/errors";
import { Digest, checkSidecar, loadKeys, sidecarKey } from "./signature";
import { recycle } from "./pieces";
import type { Checked, Identity, Keys, Signer } from "./signature";

/** What an upload finds under its key beforehand. "signing": unsigned, just written (its signature may be coming). */
export type Existing =
  | { kind: "absent" }
  | { kind: "valid"; signer: string }
  | { kind: "signing"; age: number }
  | { kind: "invalid"; why: string }
  | { kind: "unknown" };

/**
 * A build writes its archive, then its signature: an unsigned archive younger
 * than this may be another build's, between the two writes. Replacing it then
 * could leave that build's signature over our archive (a torn pair), so it is
 * left alone; a planted one is still refused by every restore, and replaced
 * by the next signing build after this long.
 */
export const SIGNING_GRACE_MS = 60_000;

export class Trust {
  readonly keys: Keys;
  /** Where this build writes; read first. */
  readonly ownPrefix: string;
  /** Read in this order: the own prefix, then the fallback prefixes. */
  readonly readPrefixes: string[];
  private readonly trustOwnPrefix: boolean;

  constructor(config: Config) {
    const { signingKey, trustedKeys, trustOwnPrefix } = config.cacheKeys;
    // Parsed only when a key is set: none of this runs for the old tool's settings.
    const none = signingKey === null && trustedKeys === null;
    this.keys = none ? { signer: null, trusted: null, problems: [] } : loadKeys(config.cacheKeys);
    this.ownPrefix = config.remoteCachePrefix;
    this.readPrefixes = [...new Set([config.remoteCachePrefix, ...config.remoteCacheFallbackPrefixes])];
    this.trustOwnPrefix = trustOwnPrefix;
  }

  get signer(): Signer | null {
    return this.keys.signer;
  }

  /** A signing key was set but cannot be used: nothing is uploaded (said once, at open). */
  get cannotSign(): boolean {
    return this.keys.signer === null && this.keys.problems.some((p) => p.startsWith("TASKRUNNER_CACHE_SIGNING_KEY"));
  }

  /** Trusted keys were set but cannot be used: nothing that needs them is restored (said once, at open). */
  get cannotVerify(): boolean {
    return this.keys.problems.some((p) => p.startsWith("TASKRUNNER_CACHE_TRUSTED_KEYS"));
  }

  /** Whether what is read under prefix must carry a trusted signature. */
  verifies(prefix: string): boolean {
    return this.keys.trusted !== null && !(this.trustOwnPrefix && prefix === this.ownPrefix);
  }

  /** Uploads look before they write (skip a valid archive, never tear one) only when signatures are in play. */
  get guardsUploads(): boolean {
    return this.keys.signer !== null || this.keys.trusted !== null;
  }

  checkArchive(sidecar: string | null, rel: string, identity: Identity | null): Checked {
    return checkSidecar(sidecar, this.keys.trusted ?? new Map(), { key: rel, identity });
  }

  /**
   * A pointer's sidecar checked against its body: bound to this job and branch,
   * and to the hash the body names now (a pointer moved to another archive
   * since it was signed does not verify).
   */
  checkPointer(
    sidecar: string | null,
    rel: string,
    job: string,
    branch: string,
    body: string,
  ): { ok: true } | { ok: false; text: string } {
    const checked = checkSidecar(sidecar, this.keys.trusted ?? new Map(), { key: rel, identity: null });
    if (!checked.ok) return { ok: false, text: checked.refusal.text };
    const statement = pointerStatement(sidecar!);
    if (statement.job !== job || statement.branch !== branch) {
      const other = `job ${statement.job}, branch ${statement.branch}`;
      return { ok: false, text: `is signed by key ${checked.signer} for ${other}, not for this key` };
    }
    if (sha256(body) !== checked.sha256) {
      const signed = `(by key ${checked.signer}) pointing to ${statement.hash}`;
      const text = `points to hash ${body.trim()}, but was signed ${signed}: it was moved since it was signed`;
      return { ok: false, text };
    }
    return { ok: true };
  }

  /**
   * Whether key already holds an archive that verifies (by a trusted key or
   * our own), cheaply: its sidecar and its size, not its bytes (every restore
   * checks those). A fault of the store is "unknown": the upload goes ahead.
   */
  async existing(
    store: ObjectStore,
    key: string,
    rel: string,
    identity: Identity,
    debug: (m: string) => void,
  ): Promise<Existing> {
    let st: { size: number; modified: Date } | null;
    let sidecar: string | null;
    try {
      [st, sidecar] = await Promise.all([store.stat(key), store.getText(sidecarKey(key))]);
    } catch (e) {
      debug(`Cannot tell whether ${store.where(key)} holds a signed archive (${describeError(e)}); uploading`);
      return { kind: "unknown" };
    }
    if (st === null) return { kind: "absent" };
    const { size } = st;
    const age = Date.now() - st.modified.getTime();
    if (sidecar === null && age < SIGNING_GRACE_MS) return { kind: "signing", age };
    const trusted = new Map<string, KeyObject>(this.keys.trusted ?? []);
    if (this.keys.signer) trusted.set(this.keys.signer.id, this.keys.signer.publicKey);
    const checked = checkSidecar(sidecar, trusted, { key: rel, identity });
    if (!checked.ok) return { kind: "invalid", why: checked.refusal.text };
    if (checked.size !== size) {
      return { kind: "invalid", why: `is ${size} bytes, its signature says ${checked.size} (torn or replaced)` };
    }
    if (store.local) {
      const digest = await digestOf(store, key).catch((e: unknown) => describeError(e));
      if (typeof digest === "string") {
        debug(`Cannot read ${store.where(key)} to check it (${digest}); uploading`);
        return { kind: "unknown" };
      }
      if (digest?.hex() !== checked.sha256) {
        return { kind: "invalid", why: `does not match its signature by key ${checked.signer} (its bytes changed)` };
      }
    }
    return { kind: "valid", signer: checked.signer };
  }
}

/** The SHA-256 of a whole object, read through (only where reading is local). */
async function digestOf(store: ObjectStore, key: string): Promise<Digest | null> {
  const body = await store.get(key);
  if (!body) return null;
  const digest = new Digest();
  for await (const chunk of body) {
    digest.update(chunk as Buffer);
    recycle(chunk as Buffer); // read into the next piece (pieces.ts)
  }
  return digest;
}

function pointerStatement(sidecar: string): { job?: unknown; branch?: unknown; hash?: unknown } {
  return JSON.parse(JSON.parse(sidecar).statement);
}

export function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}

/** source, passing through digest on its way (an upload's bytes, hashed as they are sent). */
export function digesting(source: Readable, digest: Digest): Readable {
  const tap = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      digest.update(chunk);
      cb(null, chunk);
    },
  });
  source.on("error", (e) => tap.destroy(e));
  // Destroying the tap (a failed upload) must close the archive writer behind it.
  tap.on("close", () => {
    if (!source.readableEnded) source.destroy();
  });
  return source.pipe(tap);
}
