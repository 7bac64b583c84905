import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { TAG, derEncode, readTlv, children } from './der.js';
import { TlsError } from './errors.js';

const { asn1, pki } = forge;

/**
 * How a CA key signs: the hash for node:crypto and the AlgorithmIdentifier DER that goes
 * both inside the TBS and after it (RFC 5280 §4.1.1.2 requires the two to be equal).
 */
export interface SignatureScheme {
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  readonly algorithmDer: Buffer;
}

// AlgorithmIdentifier DER. RSA: sha256WithRSAEncryption with NULL parameters (RFC 4055 §5);
// ECDSA: parameters absent (RFC 5758 §3.2), which node-forge cannot express by itself.
const ALG_RSA_SHA256 = Buffer.from('300d06092a864886f70d01010b0500', 'hex');
const ALG_ECDSA_SHA256 = Buffer.from('300a06082a8648ce3d040302', 'hex');
const ALG_ECDSA_SHA384 = Buffer.from('300a06082a8648ce3d040303', 'hex');
const ALG_ECDSA_SHA512 = Buffer.from('300a06082a8648ce3d040304', 'hex');

export function signatureSchemeFor(key: KeyObject): SignatureScheme {
  if (key.asymmetricKeyType === 'rsa') return { hash: 'sha256', algorithmDer: ALG_RSA_SHA256 };
  if (key.asymmetricKeyType === 'ec') {
    // The hash follows the curve size, as RFC 5480 §4 recommends.
    switch (key.asymmetricKeyDetails?.namedCurve) {
      case 'prime256v1':
        return { hash: 'sha256', algorithmDer: ALG_ECDSA_SHA256 };
      case 'secp384r1':
        return { hash: 'sha384', algorithmDer: ALG_ECDSA_SHA384 };
      case 'secp521r1':
        return { hash: 'sha512', algorithmDer: ALG_ECDSA_SHA512 };
    }
  }
  const detail = key.asymmetricKeyDetails?.namedCurve ?? '';
  throw new TlsError(
    'CA_UNSUPPORTED_KEY',
    `CA key type ${key.asymmetricKeyType ?? 'unknown'} ${detail} is not supported (use RSA or EC P-256/P-384/P-521)`,
  );
}

/**
 * A serial number per RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable
 * (CA/B Baseline Requirements ask for 64+ random bits). 16 random bytes with the top bit
 * cleared keep it positive; a non-zero first byte keeps the DER INTEGER minimal.
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/**
 * Key identifier by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING
 * contents (without the unused-bits octet).
 */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const top = readTlv(spki, 0);
  const bits = top && children(spki, top)?.[1];
  if (!bits || bits.tag !== TAG.BIT_STRING) throw new Error('unexpected SubjectPublicKeyInfo encoding');
  return createHash('sha1').update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

/** A subject attribute encoded as UTF8String, as RFC 5280 §4.1.2.4 asks of new certificates. */
export function utf8Attribute(name: 'commonName' | 'organizationName' | 'organizationalUnitName', value: string) {
  return { name, value, valueTagClass: asn1.Type.UTF8 as unknown as forge.asn1.Class };
}

export interface CertificateDraft {
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: forge.pki.CertificateField[];
  /** The issuer's subject Name DER, copied verbatim; absent for a self-signed certificate. */
  readonly issuerName?: Buffer;
  /** node-forge can only encode RSA subject keys. */
  readonly publicKey: forge.pki.rsa.PublicKey;
  /** node-forge extension specs (see forge's x509 setExtensions). */
  readonly extensions: object[];
}

// Present in node-forge but missing from its type definitions.
const getTbs = (pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/**
 * Build the TBSCertificate with node-forge, sign it with node:crypto (native RSA/ECDSA,
 * on the libuv thread pool, so the event loop only pays for the ASN.1 work), and assemble
 * the Certificate (RFC 5280 §4.1). Returns the DER.
 */
export async function buildCertificate(
  draft: CertificateDraft,
  signer: { readonly key: KeyObject; readonly scheme: SignatureScheme },
): Promise<Buffer> {
  const tbsDer = buildTbs(draft, signer.scheme);
  const signature = await new Promise<Buffer>((resolve, reject) =>
    sign(signer.scheme.hash, tbsDer, signer.key, (err, sig) => (err ? reject(err) : resolve(sig))),
  );
  // signatureValue is a BIT STRING whose first octet counts unused bits (none here).
  const sigBits = derEncode(TAG.BIT_STRING, Buffer.concat([Buffer.from([0]), signature]));
  return derEncode(TAG.SEQUENCE, Buffer.concat([tbsDer, signer.scheme.algorithmDer, sigBits]));
}

function buildTbs(draft: CertificateDraft, scheme: SignatureScheme): Buffer {
  const cert = pki.createCertificate();
  cert.serialNumber = draft.serialHex;
  cert.validity.notBefore = draft.notBefore;
  cert.validity.notAfter = draft.notAfter;
  cert.setSubject(draft.subject);
  cert.setIssuer(draft.subject); // replaced below when issued by another certificate
  cert.publicKey = draft.publicKey;
  cert.setExtensions(draft.extensions);
  // forge encodes siginfo into the TBS; set it, then swap in the exact AlgorithmIdentifier.
  cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  const tbs = getTbs(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  // forge always writes the version, so the fields are: 0 version, 1 serial, 2 signature,
  // 3 issuer, 4 validity, 5 subject, 6 subjectPublicKeyInfo, 7 extensions.
  fields[2] = rawAsn1(scheme.algorithmDer);
  if (draft.issuerName) fields[3] = rawAsn1(draft.issuerName);
  return Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
}

function rawAsn1(der: Buffer): forge.asn1.Asn1 {
  return asn1.fromDer(der.toString('binary'));
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** All CERTIFICATE blocks of a PEM text, in order. */
export function splitPemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
}
