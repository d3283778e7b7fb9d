// Headers for members whose name or link target is not UTF-8 (sys/byte-names.ts):
// node-tar's Header and Pax write names as UTF-8, which would turn each byte
// that is not into U+FFFD. Written as GNU tar writes them: the bytes in the
// ustar name, prefix and link fields when they fit, else in a pax header
// (`path=`, `linkpath=` with the bytes as they are, which GNU tar and
// tar-reader.ts read back). Every other field is node-tar's.
import { Header, type HeaderData } from "tar";
import { encodeName } from "../sys/byte-names";

/** The blocks that describe `entry` (a pax header first when one is needed). */
export function byteNamedHeader(entry: HeaderData): Buffer {
  const path = encodeName(entry.path ?? "");
  const link = encodeName(entry.linkpath ?? "");
  const split = ustarSplit(path);
  const header = new Header({ ...entry, path: "x", linkpath: entry.linkpath ? "x" : undefined });
  const records: Buffer[] = [];
  // Numbers too big for their fields (a file over 8 GiB): what node-tar would put in its pax header.
  if (header.encode())
    records.push(
      paxRecord("size", String(entry.size ?? 0)),
      paxRecord("mtime", String((entry.mtime?.getTime() ?? 0) / 1000)),
    );
  if (!split) records.push(paxRecord("path", path));
  if (link.length > 100) records.push(paxRecord("linkpath", link));

  const block = header.block!;
  block.fill(0, 0, 100);
  block.fill(0, 157, 257);
  block.fill(0, 345, 500);
  (split?.name ?? path.subarray(0, 100)).copy(block, 0);
  split?.prefix.copy(block, 345);
  if (link.length <= 100) link.copy(block, 157);
  checksum(block);
  if (records.length === 0) return block;

  const body = Buffer.concat(records);
  const pax = new Header({
    path: "PaxHeader/x",
    type: "ExtendedHeader",
    size: body.length,
    mode: 0o644,
    mtime: entry.mtime,
    uid: 0,
    gid: 0,
  });
  pax.encode();
  return Buffer.concat([pax.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512), block]);
}

/** The ustar name and prefix fields for path (prefix "/" name), or null when it does not fit them. */
function ustarSplit(path: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (path.length <= 100) return { name: path, prefix: Buffer.alloc(0) };
  for (let i = Math.max(1, path.length - 101); i <= Math.min(155, path.length - 2); i++) {
    if (path[i] === 0x2f) return { prefix: path.subarray(0, i), name: path.subarray(i + 1) };
  }
  return null;
}

/** `<length> <key>=<value>\n`, the length counting itself. */
function paxRecord(key: string, value: string | Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let len = rest.length + String(rest.length).length;
  if (String(len).length > String(rest.length).length) len++;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** The header checksum, as GNU tar writes it: six octal digits, NUL, space. */
function checksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i];
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
}
