import { TAG, children, readTlv, type Tlv } from './der.js';

/**
 * The parts of a CA certificate that node:crypto's X509Certificate does not expose but
 * leaf issuance needs, read straight from the DER so they work for RSA and EC CAs alike
 * (node-forge cannot parse certificates with EC keys).
 */
export interface CertFields {
  /** The subject Name TLV, verbatim: it becomes the leaves' issuer (RFC 5280 §4.1.2.4). */
  readonly subjectName: Buffer;
  /** The SubjectPublicKeyInfo TLV, verbatim (a view into the input). */
  readonly subjectPublicKeyInfo: Buffer;
  /** RFC 5280 §4.2.1.2; copied into the leaves' authority key identifier. */
  readonly subjectKeyIdentifier: Buffer | undefined;
  /** RFC 5280 §4.2.1.9. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined;
  /** RFC 5280 §4.2.1.3: undefined when the extension is absent (then any use is allowed). */
  readonly keyCertSign: boolean | undefined;
}

// DER content octets of the extension OIDs: id-ce 2.5.29.x.
const OID_SKI = Buffer.from([0x55, 0x1d, 0x0e]);
const OID_KEY_USAGE = Buffer.from([0x55, 0x1d, 0x0f]);
const OID_BASIC_CONSTRAINTS = Buffer.from([0x55, 0x1d, 0x13]);

/** Parse the fields, or undefined when the DER is not a well-formed X.509 certificate. */
export function readCertFields(der: Buffer): CertFields | undefined {
  const cert = readTlv(der, 0);
  if (!cert || cert.tag !== TAG.SEQUENCE) return undefined;
  const certKids = children(der, cert);
  const tbs = certKids?.[0];
  if (!tbs || tbs.tag !== TAG.SEQUENCE) return undefined;
  const tbsKids = children(der, tbs);
  if (!tbsKids) return undefined;
  // RFC 5280 §4.1: version is [0] EXPLICIT DEFAULT v1, so it may be absent.
  const first = tbsKids[0]?.tag === TAG.CONTEXT_0 ? 1 : 0;
  const subject = tbsKids[first + 4];
  const spki = tbsKids[first + 5];
  if (!subject || subject.tag !== TAG.SEQUENCE || !spki || spki.tag !== TAG.SEQUENCE) return undefined;

  let subjectKeyIdentifier: Buffer | undefined;
  let basicConstraints: CertFields['basicConstraints'];
  let keyCertSign: boolean | undefined;
  const extsWrapper = tbsKids.find((t) => t.tag === TAG.CONTEXT_3);
  const extSeq = extsWrapper && children(der, extsWrapper)?.[0];
  for (const ext of (extSeq && children(der, extSeq)) ?? []) {
    const parts = children(der, ext);
    const oid = parts?.[0];
    const value = parts?.[parts.length - 1];
    if (!oid || !value || oid.tag !== TAG.OID || value.tag !== TAG.OCTET_STRING) return undefined;
    const oidBytes = der.subarray(oid.contentStart, oid.end);
    const inner = readTlv(der, value.contentStart, value.end);
    if (!inner) return undefined;
    if (oidBytes.equals(OID_SKI) && inner.tag === TAG.OCTET_STRING) {
      subjectKeyIdentifier = Buffer.from(der.subarray(inner.contentStart, inner.end));
    } else if (oidBytes.equals(OID_KEY_USAGE) && inner.tag === TAG.BIT_STRING) {
      // Named bits are numbered from the most significant bit; keyCertSign is bit 5.
      const firstByte = inner.end - inner.contentStart > 1 ? der[inner.contentStart + 1]! : 0;
      keyCertSign = (firstByte & 0x04) !== 0;
    } else if (oidBytes.equals(OID_BASIC_CONSTRAINTS) && inner.tag === TAG.SEQUENCE) {
      basicConstraints = readBasicConstraints(der, inner);
    }
  }
  return {
    subjectName: Buffer.from(der.subarray(subject.start, subject.end)),
    subjectPublicKeyInfo: der.subarray(spki.start, spki.end),
    subjectKeyIdentifier,
    basicConstraints,
    keyCertSign,
  };
}

function readBasicConstraints(der: Buffer, seq: Tlv): CertFields['basicConstraints'] {
  let ca = false;
  let pathLen: number | undefined;
  for (const t of children(der, seq) ?? []) {
    if (t.tag === TAG.BOOLEAN) ca = der[t.contentStart] !== 0;
    else if (t.tag === TAG.INTEGER && t.end - t.contentStart <= 4) {
      pathLen = 0;
      for (let i = t.contentStart; i < t.end; i++) pathLen = pathLen * 256 + der[i]!;
    }
  }
  return { ca, pathLen };
}
