import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/**
 * Certificates for the HTTPS origins of the interception tests, generated when the
 * tests run (no key is committed): an "origin CA" standing in for a public CA, and
 * leaves it issues (valid, expired, for another host), plus self-signed ones. Built
 * with node-forge, signed with node:crypto (see FACTS.md: ~2 ms per certificate).
 */

export interface KeyCert {
  key: string;
  cert: string;
  /** SHA-256 fingerprint as X509Certificate prints it (colon-separated hex). */
  fingerprint256: string;
}

export interface CertSpec {
  commonName: string;
  dns?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
}

const { pki, asn1 } = forge;
// Present in node-forge, missing from its type definitions.
const getTbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

function keyPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

let serial = 0x1000;

function build(spec: CertSpec, publicKey: string, issuer: { key: string; subject: forge.pki.CertificateField[] } | null, ownKey: string): string {
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(publicKey);
  // A leading 0x01 keeps the DER INTEGER positive and minimally encoded.
  cert.serialNumber = `01${(++serial).toString(16).padStart(8, '0')}${randomBytes(6).toString('hex')}`;
  cert.validity.notBefore = spec.notBefore ?? new Date(Date.now() - 3600_000);
  cert.validity.notAfter = spec.notAfter ?? new Date(Date.now() + 30 * 24 * 3600_000);
  const subject = [{ name: 'commonName', value: spec.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(issuer ? issuer.subject : subject);
  const altNames = [...(spec.dns ?? []).map((value) => ({ type: 2, value })), ...(spec.ips ?? []).map((ip) => ({ type: 7, ip }))];
  cert.setExtensions(
    spec.ca
      ? [
          { name: 'basicConstraints', cA: true, critical: true },
          { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
          { name: 'subjectKeyIdentifier' },
        ]
      : [
          { name: 'basicConstraints', cA: false },
          { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
          { name: 'extKeyUsage', serverAuth: true },
          ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
        ],
  );
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = pki.oids.sha256WithRSAEncryption!;
  const tbs = asn1.toDer(getTbs(cert)).getBytes();
  cert.signature = sign('sha256', Buffer.from(tbs, 'binary'), issuer ? issuer.key : ownKey).toString('binary');
  return pki.certificateToPem(cert);
}

function withFingerprint(key: string, cert: string): KeyCert {
  return { key, cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
}

export interface OriginCa extends KeyCert {
  /** A leaf signed by this CA (shares one key across leaves: key generation is the slow part). */
  issue(spec: CertSpec): KeyCert;
}

export function makeOriginCa(commonName = 'egressd test origin CA'): OriginCa {
  const { privateKey, publicKey } = keyPair();
  const caPem = build({ commonName, ca: true, notAfter: new Date(Date.now() + 365 * 24 * 3600_000) }, publicKey, null, privateKey);
  const subject = pki.certificateFromPem(caPem).subject.attributes;
  const leafKeys = keyPair();
  return {
    ...withFingerprint(privateKey, caPem),
    issue(spec) {
      return withFingerprint(leafKeys.privateKey, build(spec, leafKeys.publicKey, { key: privateKey, subject }, leafKeys.privateKey));
    },
  };
}

/** A self-signed leaf (not a CA): what DEPTH_ZERO_SELF_SIGNED_CERT is about. */
export function makeSelfSigned(spec: CertSpec): KeyCert {
  const { privateKey, publicKey } = keyPair();
  return withFingerprint(privateKey, build(spec, publicKey, null, privateKey));
}

/** Names every origin of these tests answers for: the test hosts all resolve to 127.0.0.1. */
export const ORIGIN_NAMES = ['localhost', 'excluded.test', 'inc.test', 'other.test', 'tun.test', 'icp.test', 'pinned.test', 'plain.test'];
