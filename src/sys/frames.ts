// Length-prefixed messages over a stream socket. A stream has no message
// boundaries: one write may arrive in many chunks (a chunk may end inside a
// UTF-8 character), and one write call may take only part of what it is given
// when the peer reads slowly. So every message is a frame — a 4-byte magic,
// its payload's length (32 bits, big-endian), the payload — decoded only once
// whole, and sent by an Outbox that writes on from the socket's drain event
// whatever the kernel did not take yet.

/** "TRF1": a peer speaking anything else (another version's protocol) is told apart at once. */
export const FRAME_MAGIC = new Uint8Array([0x54, 0x52, 0x46, 0x31]);
const HEADER = 8;
/** The largest payload a 32-bit length can state. */
export const MAX_FRAME = 0xffffffff;

/** payload with its header. */
export function frame(payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME) {
    throw new RangeError(`a message of ${payload.length} bytes is larger than a frame's ${MAX_FRAME}`);
  }
  const out = new Uint8Array(HEADER + payload.length);
  out.set(FRAME_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, payload.length);
  out.set(payload, HEADER);
  return out;
}

/**
 * Gathers chunks as they arrive and hands out whole payloads. Chunks are kept
 * as they come (copied: a socket may reuse its receive buffer) and joined once
 * per payload, so a large message costs one copy, not one per chunk.
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private size = 0;
  /** Set once the bytes received cannot be a frame: the peer speaks another protocol. */
  foreign = false;

  /** The payloads completed by chunk, in order (none while one is still arriving). */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.foreign) return [];
    this.chunks.push(Uint8Array.prototype.slice.call(chunk));
    this.size += chunk.length;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.size === 0) return out;
      if (this.size < HEADER) {
        // Checked as soon as the magic's bytes are in, to tell a stranger at once.
        if (!this.magicSoFar()) this.foreign = true;
        return out;
      }
      const head = this.peek(HEADER);
      if (!FRAME_MAGIC.every((b, i) => head[i] === b)) {
        this.foreign = true;
        return out;
      }
      const length = new DataView(head.buffer, head.byteOffset, HEADER).getUint32(4);
      if (this.size < HEADER + length) return out;
      const all = this.take(HEADER + length);
      out.push(all.subarray(HEADER));
    }
  }

  private magicSoFar(): boolean {
    const head = this.peek(Math.min(this.size, FRAME_MAGIC.length));
    return head.every((b, i) => b === FRAME_MAGIC[i]);
  }

  /** The first n bytes (n ≤ size), joining only as many chunks as needed. */
  private peek(n: number): Uint8Array {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    return join(this.chunks, n);
  }

  /** Removes and returns the first n bytes. */
  private take(n: number): Uint8Array {
    const all = join(this.chunks, this.size);
    this.chunks = n < all.length ? [all.subarray(n)] : [];
    this.size -= n;
    return all.subarray(0, n);
  }
}

function join(chunks: Uint8Array[], n: number): Uint8Array {
  if (chunks.length === 1) return chunks[0].subarray(0, n);
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    if (at >= n) break;
    const part = c.subarray(0, n - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

interface Writable {
  write(data: Uint8Array): number;
}

/**
 * What is still to be written to one socket. send() writes as much as the
 * socket takes now; the socket's drain handler calls flush() for the rest.
 * sent runs once the last byte has been handed to the kernel.
 */
export class Outbox {
  private rest: Uint8Array | null = null;
  private sent: (() => void) | null = null;

  constructor(private readonly socket: Writable) {}

  send(data: Uint8Array, sent: () => void = () => {}): void {
    this.rest = data;
    this.sent = sent;
    this.flush();
  }

  flush(): void {
    while (this.rest !== null && this.rest.length > 0) {
      const n = this.socket.write(this.rest);
      if (n <= 0) return; // full: drain calls again
      this.rest = this.rest.subarray(n);
    }
    if (this.rest === null) return;
    this.rest = null;
    const sent = this.sent;
    this.sent = null;
    sent?.();
  }
}
