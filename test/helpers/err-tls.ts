import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface TestCert {
  key: string;
  cert: string;
}

/**
 * A self-signed RSA certificate for 127.0.0.1 / localhost, generated at test time
 * (no private key is committed). Key generation uses node:crypto (fast); node-forge
 * builds and signs the certificate.
 */
export function selfSignedCert(commonName = 'localhost'): TestCert {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const { pki, md } = forge;
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01' + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
  ]);
  cert.sign(pki.privateKeyFromPem(privateKey), md.sha256.create());
  return { key: privateKey, cert: pki.certificateToPem(cert) };
}
