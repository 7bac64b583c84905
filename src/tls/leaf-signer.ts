import forge from 'node-forge';
import type { CertificateAuthority } from './ca.js';
import { TlsError } from './errors.js';
import { ipToBytes, type NormalizedHost } from './host-name.js';
import type { LeafKey } from './leaf-key.js';
import {
  buildCertificate,
  derToPem,
  randomSerialHex,
  signatureSchemeFor,
  utf8Attribute,
  type SignatureScheme,
} from './x509-build.js';

const DAY_MS = 86_400_000;
/** CA/Browser Forum limit (398 days), with a day of margin; Apple and Chrome enforce it. */
export const MAX_LEAF_VALIDITY_DAYS = 397;
// RFC 5280 Appendix A: ub-common-name.
const MAX_CN = 64;

export interface LeafSignerOptions {
  /** Default and maximum 397. */
  validityDays?: number;
  /** How far notBefore is set in the past, for clients whose clock is behind; default 1 hour. */
  backdateMs?: number;
  /** Subject O of the leaves; default "egressd". */
  organization?: string;
}

export interface LeafCertificate {
  readonly der: Buffer;
  readonly pem: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Issues leaf certificates for one CA and one shared leaf key. Everything that does not
 * depend on the host is computed once here, so each issuance is one subject, one SAN,
 * the ASN.1 encoding and a native signature.
 */
export class LeafSigner {
  readonly #ca: CertificateAuthority;
  readonly #leafKey: LeafKey;
  readonly #scheme: SignatureScheme;
  readonly #fixedExtensions: readonly object[];
  readonly #validityMs: number;
  readonly #backdateMs: number;
  readonly #organization: string;
  readonly #caNotBefore: number;
  readonly #caNotAfter: number;

  constructor(ca: CertificateAuthority, leafKey: LeafKey, options: LeafSignerOptions = {}) {
    const days = options.validityDays ?? MAX_LEAF_VALIDITY_DAYS;
    if (!(days > 0 && days <= MAX_LEAF_VALIDITY_DAYS)) {
      throw new TlsError('INVALID_OPTIONS', `leaf validity must be 1..${MAX_LEAF_VALIDITY_DAYS} days, got ${days}`);
    }
    this.#ca = ca;
    this.#leafKey = leafKey;
    this.#scheme = signatureSchemeFor(ca.key);
    this.#validityMs = days * DAY_MS;
    this.#backdateMs = options.backdateMs ?? 3_600_000;
    this.#organization = options.organization ?? 'egressd';
    this.#caNotBefore = Date.parse(ca.cert.validFrom);
    this.#caNotAfter = Date.parse(ca.cert.validTo);
    this.#fixedExtensions = encodeFixedExtensions(ca, leafKey);
  }

  async issue(host: NormalizedHost, now: number): Promise<LeafCertificate> {
    // Never claim validity outside the CA's own: clients reject (or mis-date) such leaves.
    const notBefore = Math.max(now - this.#backdateMs, this.#caNotBefore);
    const notAfter = Math.min(notBefore + this.#validityMs, this.#caNotAfter);
    if (notAfter <= now) {
      throw new TlsError('CA_EXPIRED', `the CA expired on ${this.#ca.cert.validTo}; no leaf can be issued`);
    }
    const subject = [utf8Attribute('organizationName', this.#organization)];
    // RFC 5280 §4.2.1.6: the name that counts is in the SAN; the CN is only for display
    // and cannot hold a name over 64 characters, so it is left out for those.
    if (host.name.length <= MAX_CN) subject.unshift(utf8Attribute('commonName', host.name));
    const altName =
      host.kind === 'dns'
        ? { type: 2, value: host.name } // dNSName
        : { type: 7, value: ipToBytes(host).toString('binary') }; // iPAddress: 4 or 16 octets
    const serialHex = randomSerialHex();
    try {
      const der = await buildCertificate(
        {
          serialHex,
          notBefore: new Date(notBefore),
          notAfter: new Date(notAfter),
          subject,
          issuerName: this.#ca.subjectName,
          publicKey: this.#leafKey.forgePublicKey,
          // Shallow copies: forge stores encoded values on the objects it is given.
          extensions: [...this.#fixedExtensions.map((e) => ({ ...e })), { name: 'subjectAltName', altNames: [altName] }],
        },
        { key: this.#ca.key, scheme: this.#scheme },
      );
      return { der, pem: derToPem(der), serialHex, notBefore: new Date(notBefore), notAfter: new Date(notAfter) };
    } catch (cause) {
      throw new TlsError('LEAF_ISSUE_FAILED', `issuing a certificate for ${host.name} failed: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
}

/** Extensions identical in every leaf, encoded once by forge and then reused as DER. */
function encodeFixedExtensions(ca: CertificateAuthority, leafKey: LeafKey): object[] {
  const specs: Array<Record<string, unknown>> = [
    // RFC 5280 §4.2.1.9: an end entity; critical as mitmproxy and OpenSSL's defaults do.
    { name: 'basicConstraints', cA: false, critical: true },
    // RFC 5280 §4.2.1.3 and RFC 5246 §7.4.2: RSA keys sign (ECDHE) or decrypt (RSA key exchange).
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    // RFC 5280 §4.2.1.12: a TLS server certificate only.
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectKeyIdentifier',
      value: forge.asn1.create(
        forge.asn1.Class.UNIVERSAL,
        forge.asn1.Type.OCTETSTRING,
        false,
        leafKey.keyIdentifier.toString('binary'),
      ),
    },
  ];
  // RFC 5280 §4.2.1.1: MUST be present in certificates a CA issues, and lets clients pick the
  // right CA among several with the same name. A CA without a key identifier gets none.
  if (ca.keyIdentifier) specs.push({ name: 'authorityKeyIdentifier', keyIdentifier: ca.keyIdentifier.toString('binary') });
  const cert = forge.pki.createCertificate();
  cert.setExtensions(specs); // fills id and DER value in place
  return specs.map(({ id, critical, value }) => ({
    id,
    critical,
    value: typeof value === 'string' ? value : forge.asn1.toDer(value as forge.asn1.Asn1).getBytes(),
  }));
}
