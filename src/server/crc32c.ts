/**
 * CRC-32C (Castagnoli; RFC 4960 Appendix B, reflected polynomial 0x82F63B78), for the
 * PROXY protocol v2 PP2_TYPE_CRC32C TLV. node:zlib's crc32 is the IEEE polynomial, not
 * this one, hence the small table here.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
