/**
 * 32-bit FNV-1a over a string, finished with murmur3's fmix32 so that keys differing in
 * one character spread over the whole range (FNV alone clusters short keys).
 */
export function hash32(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Weighted rendezvous (highest random weight) score of `member` for `key`: the member
 * with the highest score wins. Removing one of N members moves only the keys it won
 * (about 1/N); a member of weight w wins a share w/Σw (Schindelhauer & Schomaker's
 * logarithmic method: score = -w / ln(u), u uniform in (0, 1)).
 */
export function rendezvousScore(key: string, member: string, weight: number): number {
  const u = (hash32(key, hash32(member)) + 0.5) / 4294967296;
  return -weight / Math.log(u);
}
