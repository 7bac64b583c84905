/**
 * The few DER (ITU-T X.690) operations this module needs on raw bytes: walking a
 * certificate to copy fields verbatim, and assembling the final Certificate SEQUENCE.
 * Working on byte slices instead of re-encoding keeps fields such as the issuer Name
 * byte-identical to the CA's own encoding, which name chaining depends on (RFC 5280 §7.1).
 */

export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number; tags > 30 are not needed here). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  CONTEXT_0: 0xa0,
  CONTEXT_3: 0xa3,
} as const;

/** Read one TLV at `pos`, bounded by `limit`; undefined if malformed or truncated. */
export function readTlv(buf: Uint8Array, pos: number, limit = buf.length): Tlv | undefined {
  if (pos + 2 > limit) return undefined;
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) return undefined; // high tag numbers never occur in the fields we read
  let len = buf[pos + 1]!;
  let contentStart = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > limit) return undefined; // indefinite length is BER, not DER
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[contentStart + i]!;
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) return undefined;
  return { tag, start: pos, contentStart, end };
}

/** The TLVs directly inside a constructed TLV; undefined if any child is malformed. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    if (!child) return undefined;
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** Encode a DER length (X.690 §8.1.3: short form below 128, else minimal long form). */
export function derLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV from already-encoded content. */
export function derEncode(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}
