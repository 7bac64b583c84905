import { createHash } from 'node:crypto';
import type { CacheEntry } from './entry.js';

/**
 * On-disk file of one primary key (all its variants):
 *
 *   "EGRESSD-CACHE 1\n" <meta length, decimal> "\n" <meta JSON> <bodies…>
 *
 * The meta JSON lists each variant without its body, with the body's length, and a
 * SHA-256 of everything after the meta. A file that fails any check is corrupt: it
 * is deleted and never served.
 */
const MAGIC = 'EGRESSD-CACHE 1\n';

type StoredMeta = Omit<CacheEntry, 'body'> & { bodyLength: number };
interface FileMeta {
  key: string;
  url: string;
  sha256: string;
  variants: StoredMeta[];
}

export function fileNameOf(key: string): string {
  return `${createHash('sha256').update(key).digest('hex')}.entry`;
}

export function encode(variants: readonly CacheEntry[]): Buffer {
  const bodies = Buffer.concat(variants.map((v) => v.body));
  const metas: StoredMeta[] = variants.map(({ body, ...rest }) => ({ ...rest, bodyLength: body.length }));
  const meta: FileMeta = {
    key: variants[0]!.key,
    url: variants[0]!.url,
    sha256: createHash('sha256').update(bodies).digest('hex'),
    variants: metas,
  };
  const json = Buffer.from(JSON.stringify(meta));
  return Buffer.concat([Buffer.from(`${MAGIC}${json.length}\n`), json, bodies]);
}

export class CorruptEntry extends Error {}

/** Parse a file; throws CorruptEntry on any inconsistency. */
export function decode(buf: Buffer, expectKey?: string): { key: string; url: string; variants: CacheEntry[] } {
  if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new CorruptEntry('bad magic');
  const nl = buf.indexOf(10, MAGIC.length);
  if (nl < 0) throw new CorruptEntry('no meta length');
  const len = Number(buf.subarray(MAGIC.length, nl).toString('latin1'));
  if (!Number.isInteger(len) || len <= 0 || nl + 1 + len > buf.length) throw new CorruptEntry('bad meta length');
  let meta: FileMeta;
  try {
    meta = JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString('utf8')) as FileMeta;
  } catch {
    throw new CorruptEntry('meta is not JSON');
  }
  if (typeof meta.key !== 'string' || !Array.isArray(meta.variants) || meta.variants.length === 0) throw new CorruptEntry('bad meta');
  if (expectKey !== undefined && meta.key !== expectKey) throw new CorruptEntry('key mismatch');
  const bodies = buf.subarray(nl + 1 + len);
  if (createHash('sha256').update(bodies).digest('hex') !== meta.sha256) throw new CorruptEntry('checksum mismatch');
  let off = 0;
  const variants: CacheEntry[] = [];
  for (const m of meta.variants) {
    if (!Number.isInteger(m.bodyLength) || off + m.bodyLength > bodies.length || !Array.isArray(m.headers)) throw new CorruptEntry('bad variant');
    const { bodyLength, ...rest } = m;
    variants.push({ ...rest, body: Buffer.from(bodies.subarray(off, off + bodyLength)) });
    off += bodyLength;
  }
  if (off !== bodies.length) throw new CorruptEntry('trailing bytes');
  return { key: meta.key, url: meta.url, variants };
}

/** Where the meta JSON of a file starts and how long it is, from its first bytes. */
export function metaSpan(head: Buffer): { start: number; length: number } {
  if (head.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new CorruptEntry('bad magic');
  const nl = head.indexOf(10, MAGIC.length);
  if (nl < 0) throw new CorruptEntry('no meta length');
  const length = Number(head.subarray(MAGIC.length, nl).toString('latin1'));
  if (!Number.isInteger(length) || length <= 0) throw new CorruptEntry('bad meta length');
  return { start: nl + 1, length };
}

/**
 * What the startup index needs from a file's meta (key, URL, variant count) and the
 * file size it implies, so a truncated file is caught without reading its bodies; the
 * checksum is verified when the entry is read.
 */
export function indexMeta(metaJson: Buffer, metaEnd: number): { key: string; url: string; entries: number; size: number } {
  let meta: FileMeta;
  try {
    meta = JSON.parse(metaJson.toString('utf8')) as FileMeta;
  } catch {
    throw new CorruptEntry('meta is not JSON');
  }
  if (typeof meta.key !== 'string' || typeof meta.url !== 'string' || !Array.isArray(meta.variants) || meta.variants.length === 0) throw new CorruptEntry('bad meta');
  let size = metaEnd;
  for (const v of meta.variants) {
    if (!Number.isInteger(v.bodyLength) || v.bodyLength < 0) throw new CorruptEntry('bad variant');
    size += v.bodyLength;
  }
  return { key: meta.key, url: meta.url, entries: meta.variants.length, size };
}
