import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { canonicalIPv6 } from './host.js';

const DOMAIN = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
/** Multiplier of the polynomial string hash (the FNV prime; any large odd number works). */
export const HASH_P = 0x01000193;
const P = HASH_P;
const DOT = 46;

/**
 * A set of domains where each entry matches itself and all its subdomains: the suffix
 * index behind `domainLists`.
 *
 * Lookup walks up the labels of the host ("a.b.c" probes "a.b.c", "b.c", "c"), so it
 * costs O(labels) probes whatever the list size. It is an open-addressing hash table
 * over slices of the list file's text rather than a Set<string>: a million Set.add
 * calls take about a second and a million string objects about 80 MB, while this
 * loads in a fraction of that with typed arrays. The hash is polynomial from the right,
 * so one right-to-left pass over a host yields the hash of every parent domain without
 * creating substrings.
 */
export class DomainSet {
  private readonly sources: string[] = [];
  private entrySource: Int32Array = new Int32Array(16);
  private entryStart: Int32Array = new Int32Array(16);
  private entryLength: Int32Array = new Int32Array(16);
  private entryHash: Int32Array = new Int32Array(16);
  private count = 0;
  /** Entry index + 1; 0 is an empty slot. Kept at most half full. */
  private slots: Int32Array = new Int32Array(32);

  get size(): number {
    return this.count;
  }

  /** Add an entry already normalised by {@link normaliseDomainEntry}. */
  add(name: string): void {
    this.sources.push(name);
    this.addSlice(this.sources.length - 1, 0, name.length, hashRange(name, 0, name.length));
  }

  /** Register a text (a list file) whose slices are then added with {@link addSlice}. */
  addSource(text: string): number {
    this.sources.push(text);
    return this.sources.length - 1;
  }

  /** Add `text[start, end)` of a registered source; `hash` is `hashRange` of it. */
  addSlice(source: number, start: number, end: number, hash: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.grow(this.slots.length * 2);
    const text = this.sources[source]!;
    const length = end - start;
    const mask = this.slots.length - 1;
    // One probe sequence both finds a duplicate and the free slot for a new entry.
    let slot = mix(hash) & mask;
    for (let e = this.slots[slot]!; e !== 0; e = this.slots[slot]!) {
      const k = e - 1;
      if (this.entryHash[k] === hash && this.entryLength[k] === length && this.equals(k, text, start, length)) return;
      slot = (slot + 1) & mask;
    }
    const k = this.count++;
    this.entrySource[k] = source;
    this.entryStart[k] = start;
    this.entryLength[k] = length;
    this.entryHash[k] = hash;
    this.slots[slot] = k + 1;
  }

  /** Make room for `n` entries in total, so a large list does not rehash as it loads. */
  reserve(n: number): void {
    let cap = this.slots.length;
    while (n * 2 > cap) cap *= 2;
    if (cap > this.slots.length) this.grow(cap);
  }

  /**
   * Does the set hold `host` or one of its parent domains? `host` must be normalised
   * (lowercase, punycode, no trailing dot). IP literals match exactly only.
   */
  has(host: string, hostIsIp = false): boolean {
    return this.matchIndex(host, hostIsIp) >= 0;
  }

  /** The entry that matched (for explain), or undefined. */
  matchOf(host: string, hostIsIp = false): string | undefined {
    const k = this.matchIndex(host, hostIsIp);
    if (k < 0) return undefined;
    const start = this.entryStart[k]!;
    return this.sources[this.entrySource[k]!]!.slice(start, start + this.entryLength[k]!);
  }

  private matchIndex(host: string, hostIsIp: boolean): number {
    if (this.count === 0) return -1;
    let h = 0;
    let pow = 1;
    for (let i = host.length - 1; i >= 0; i--) {
      const c = host.charCodeAt(i);
      // At a dot, h is the hash of the parent domain host[i+1..].
      if (c === DOT && !hostIsIp) {
        const k = this.find(host, i + 1, host.length - i - 1, h);
        if (k >= 0) return k;
      }
      h = (h + Math.imul(c, pow)) | 0;
      pow = Math.imul(pow, P);
    }
    return this.find(host, 0, host.length, h);
  }

  private find(s: string, start: number, length: number, hash: number): number {
    const mask = this.slots.length - 1;
    for (let slot = mix(hash) & mask; ; slot = (slot + 1) & mask) {
      const e = this.slots[slot]!;
      if (e === 0) return -1;
      const k = e - 1;
      if (this.entryHash[k] === hash && this.entryLength[k] === length && this.equals(k, s, start, length)) return k;
    }
  }

  private equals(k: number, s: string, start: number, length: number): boolean {
    const text = this.sources[this.entrySource[k]!]!;
    const off = this.entryStart[k]!;
    for (let j = 0; j < length; j++) if (text.charCodeAt(off + j) !== s.charCodeAt(start + j)) return false;
    return true;
  }

  private grow(slotCount: number): void {
    const entries = slotCount / 2;
    if (this.entryHash.length < entries) {
      this.entrySource = resize(this.entrySource, entries);
      this.entryStart = resize(this.entryStart, entries);
      this.entryLength = resize(this.entryLength, entries);
      this.entryHash = resize(this.entryHash, entries);
    }
    this.slots = new Int32Array(slotCount);
    const mask = slotCount - 1;
    for (let k = 0; k < this.count; k++) {
      let slot = mix(this.entryHash[k]!) & mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
      this.slots[slot] = k + 1;
    }
  }
}

/** Polynomial hash of `s[start, end)`, accumulated from the right (see DomainSet). */
export function hashRange(s: string, start: number, end: number): number {
  let h = 0;
  let pow = 1;
  for (let i = end - 1; i >= start; i--) {
    h = (h + Math.imul(s.charCodeAt(i), pow)) | 0;
    pow = Math.imul(pow, P);
  }
  return h;
}

/** Spread the hash bits before masking (murmur3 finaliser). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function resize(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

/**
 * Normalise one list entry: lowercase, no trailing dot, IDN to punycode. A leading
 * "*." or "." is accepted and ignored, since every entry already covers its
 * subdomains. IP literals are kept as exact entries. Returns undefined if invalid.
 */
export function normaliseDomainEntry(raw: string): string | undefined {
  let d = raw;
  if (d.startsWith('*.')) d = d.slice(2);
  else if (d.startsWith('.')) d = d.slice(1);
  if (d.endsWith('.')) d = d.slice(0, -1);
  d = d.toLowerCase();
  if (DOMAIN.test(d)) return d;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(d)) {
    const ascii = domainToASCII(d);
    return ascii && DOMAIN.test(ascii) ? ascii : undefined;
  }
  const v = isIP(d);
  if (v === 6) return canonicalIPv6(d);
  if (v === 4) return d;
  return undefined;
}
