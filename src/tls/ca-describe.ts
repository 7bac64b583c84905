import type { X509Certificate } from 'node:crypto';
import { oneLine, type CertificateAuthority } from './ca.js';

/** What `egressd ca show` prints and the admin API reports. */
export interface CaDescription {
  readonly subject: string;
  readonly issuer: string;
  /** Hex, as OpenSSL prints it. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Colon-separated uppercase hex, the form device trust dialogs show. */
  readonly fingerprintSha256: string;
  /** Still what Windows certmgr and many MDM consoles display. */
  readonly fingerprintSha1: string;
  readonly selfSigned: boolean;
  /** e.g. "rsa 2048", "ec prime256v1". */
  readonly key: string;
}

export function describeCa(ca: CertificateAuthority | X509Certificate): CaDescription {
  const cert = 'cert' in ca ? ca.cert : ca;
  const details = cert.publicKey.asymmetricKeyDetails;
  const size = details?.modulusLength ?? details?.namedCurve ?? '';
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprintSha256: cert.fingerprint256,
    fingerprintSha1: cert.fingerprint,
    selfSigned: 'cert' in ca ? ca.selfSigned : cert.checkIssued(cert) && cert.verify(cert.publicKey),
    key: `${cert.publicKey.asymmetricKeyType ?? 'unknown'} ${size}`.trim(),
  };
}

/**
 * The certificate devices should trust, PEM. With `chain`, the issuers found in ca.pem
 * follow (for an intermediate CA, devices normally trust the company root instead).
 */
export function exportCaPem(ca: CertificateAuthority, options: { chain?: boolean } = {}): string {
  return options.chain && ca.chainPem ? ca.chainPem : ca.certPem;
}

/** DER, the form Windows and many MDM tools import as a .cer/.crt file. */
export function exportCaDer(ca: CertificateAuthority): Buffer {
  return Buffer.from(ca.cert.raw);
}
