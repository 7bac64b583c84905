import { X509Certificate, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { readCertFields } from './cert-fields.js';
import { TlsError } from './errors.js';
import {
  buildCertificate,
  derToPem,
  keyIdentifier,
  randomSerialHex,
  signatureSchemeFor,
  splitPemCertificates,
  utf8Attribute,
} from './x509-build.js';

const generateKeyPairAsync = promisify(generateKeyPair);
const DAY_MS = 86_400_000;

/** A CA that can sign leaves: egressd's own, or an intermediate issued by a company PKI. */
export interface CertificateAuthority {
  /** The signing certificate. */
  readonly cert: X509Certificate;
  /** The signing certificate alone, PEM. */
  readonly certPem: string;
  /**
   * What a server sends after each leaf (RFC 8446 §4.4.2): empty for a self-signed root,
   * which clients must already hold; otherwise this CA and the rest of its ca.pem, so a
   * device that trusts only the company root can build the path.
   */
  readonly chainPem: string;
  readonly key: KeyObject;
  /** The subject Name DER, verbatim: the leaves' issuer field. */
  readonly subjectName: Buffer;
  /** The CA's subject key identifier, for the leaves' authority key identifier (RFC 5280 §4.2.1.1). */
  readonly keyIdentifier: Buffer | undefined;
  readonly selfSigned: boolean;
}

export interface CaSubject {
  commonName?: string;
  organization?: string;
  organizationalUnit?: string;
}

export interface CreateCaOptions {
  subject?: CaSubject;
  /** Default 3650 (ten years): re-provisioning every device is the expensive part. */
  validityDays?: number;
  /** RSA modulus size; default 2048. */
  keyBits?: 2048 | 3072 | 4096;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export interface CaCheckOptions {
  now?: () => number;
  /** Accept an expired or not-yet-valid CA (for `ca show` / `ca export`), never for issuing. */
  allowExpired?: boolean;
}

export const DEFAULT_CA_SUBJECT: Required<CaSubject> = {
  commonName: 'egressd interception CA',
  organization: 'egressd',
  organizationalUnit: '',
};

// Backdate the CA so devices with a slow clock accept it and leaves issued right away.
const CA_BACKDATE_MS = 2 * DAY_MS;
// RFC 5280 Appendix A: ub-common-name, ub-organization-name and ub-organizational-unit-name are 64.
const MAX_NAME_ATTR = 64;

/** Create a new self-signed RSA CA in memory (write it with writeCa). */
export async function createCa(options: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const subject = { ...DEFAULT_CA_SUBJECT, ...options.subject };
  const validityDays = options.validityDays ?? 3650;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 36_500) {
    throw new TlsError('INVALID_OPTIONS', `CA validity must be 1..36500 days, got ${validityDays}`);
  }
  const attrs = [
    nameAttr('commonName', subject.commonName, true),
    nameAttr('organizationName', subject.organization, false),
    nameAttr('organizationalUnitName', subject.organizationalUnit, false),
  ].filter((a) => a !== undefined);

  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: options.keyBits ?? 2048,
    publicExponent: 0x10001,
  });
  const now = (options.now ?? Date.now)();
  const ski = keyIdentifier(publicKey);
  const der = await buildCertificate(
    {
      serialHex: randomSerialHex(),
      notBefore: new Date(now - CA_BACKDATE_MS),
      notAfter: new Date(now + validityDays * DAY_MS),
      subject: attrs,
      publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string),
      extensions: [
        // RFC 5280 §4.2.1.9: critical in CA certificates; pathlen 0 = may sign leaves only,
        // so a stolen key cannot mint further CAs.
        { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
        // RFC 5280 §4.2.1.3: SHOULD be critical.
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier', value: octetString(ski) },
        // RFC 5280 §4.2.1.1 allows omitting it on a self-signed root; OpenSSL adds it, so do we.
        { name: 'authorityKeyIdentifier', keyIdentifier: ski.toString('binary') },
      ],
    },
    { key: privateKey, scheme: signatureSchemeFor(privateKey) },
  );
  return caFromPem(derToPem(der), privateKey, { now: () => now });
}

/**
 * Validate a CA certificate (PEM chain: the signing certificate first, then optionally its
 * issuers, or a single DER certificate) against its private key.
 */
export function caFromPem(certText: string | Buffer, key: KeyObject, options: CaCheckOptions = {}): CertificateAuthority {
  const blocks = splitPemCertificates(certText.toString('latin1'));
  let cert: X509Certificate;
  try {
    // No PEM block: try the bytes as DER, the other format PKI teams hand out.
    cert = new X509Certificate(blocks[0] ?? (typeof certText === 'string' ? Buffer.from(certText, 'latin1') : certText));
  } catch (cause) {
    throw new TlsError('CA_UNREADABLE', 'CA certificate is not a parsable X.509 certificate (PEM or DER)', { cause });
  }
  const fields = readCertFields(cert.raw);
  if (!fields) throw new TlsError('CA_UNREADABLE', 'CA certificate has an unexpected DER structure');

  if (!keyMatches(cert, key)) {
    throw new TlsError('CA_KEY_MISMATCH', `the CA private key does not belong to the certificate ${oneLine(cert.subject)}`);
  }
  // RFC 5280 §4.2.1.9: without cA=TRUE the key may not verify certificate signatures;
  // §4.2.1.3: when keyUsage is present it must include keyCertSign.
  if (!cert.ca || fields.basicConstraints?.ca !== true) {
    throw new TlsError('CA_NOT_CA', `${oneLine(cert.subject)} is not a CA certificate (basicConstraints cA is not TRUE)`);
  }
  if (fields.keyCertSign === false) {
    throw new TlsError('CA_NOT_CA', `${oneLine(cert.subject)} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  signatureSchemeFor(key); // throws CA_UNSUPPORTED_KEY early, not on the first handshake
  if (!options.allowExpired) checkValidity(cert, (options.now ?? Date.now)());

  const selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
  const certPem = cert.toString();
  return {
    cert,
    certPem,
    chainPem: selfSigned ? '' : [certPem, ...blocks.slice(1)].join(''),
    key,
    subjectName: fields.subjectName,
    keyIdentifier: fields.subjectKeyIdentifier,
    selfSigned,
  };
}

function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    if (key.type !== 'private') return false;
    // checkPrivateKey compares the public halves; the explicit export check also catches a
    // key of another type, which some OpenSSL builds report as an exception.
    const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
    return cert.checkPrivateKey(key) && pub.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

function checkValidity(cert: X509Certificate, now: number): void {
  if (Date.parse(cert.validTo) <= now) {
    throw new TlsError('CA_EXPIRED', `CA certificate ${oneLine(cert.subject)} expired on ${cert.validTo}`);
  }
  if (Date.parse(cert.validFrom) > now) {
    throw new TlsError('CA_NOT_YET_VALID', `CA certificate ${oneLine(cert.subject)} is valid only from ${cert.validFrom}`);
  }
}

function nameAttr(name: Parameters<typeof utf8Attribute>[0], value: string, required: boolean) {
  if (value === '' && !required) return undefined;
  if (value.length === 0 || value.length > MAX_NAME_ATTR || /[\u0000-\u001f]/.test(value)) {
    throw new TlsError('INVALID_OPTIONS', `CA subject ${name} must be 1..${MAX_NAME_ATTR} printable characters`);
  }
  return utf8Attribute(name, value);
}

function octetString(bytes: Buffer): forge.asn1.Asn1 {
  return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.OCTETSTRING, false, bytes.toString('binary'));
}

/** X509Certificate prints names one attribute per line; logs and CLIs want one line. */
export function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
