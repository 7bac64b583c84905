import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeafFactory, describeCa, exportCaPem, generateLeafKey, loadCa, type CertificateAuthority } from '../../src/tls/index.js';
import { handshake, openssl, opensslVerify, tempDirs, writeTemp } from './helpers.js';

/**
 * A company PKI: an RSA root the devices already trust, and an EC P-256 intermediate with
 * pathlen 0 handed to egressd. Built with the openssl CLI, as a PKI team would.
 */
const dirs = tempDirs();
let dir: string;
let ca: CertificateAuthority;
let rootFile: string;

beforeAll(async () => {
  dir = await dirs.make();
  const p = (name: string) => join(dir, name);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p('root-key.pem')]);
  openssl(['req', '-x509', '-key', p('root-key.pem'), '-subj', '/C=DE/O=Acme Corp/CN=Acme Root CA', '-days', '30',
    '-out', p('root.pem'), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('inter-key.pem')]);
  openssl(['req', '-new', '-key', p('inter-key.pem'), '-subj', '/C=DE/O=Acme Corp/OU=Network/CN=Acme egress CA', '-out', p('inter.csr')]);
  await writeTemp(dir, 'inter.ext', [
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    'keyUsage=critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
  ].join('\n'));
  openssl(['x509', '-req', '-in', p('inter.csr'), '-CA', p('root.pem'), '-CAkey', p('root-key.pem'), '-CAcreateserial',
    '-days', '20', '-extfile', p('inter.ext'), '-out', p('inter.pem')]);
  // ca.pem as a PKI team hands it out: the intermediate, then its issuer.
  await writeTemp(dir, 'ca.pem', (await readFile(p('inter.pem'), 'utf8')) + (await readFile(p('root.pem'), 'utf8')));
  rootFile = p('root.pem');
  ca = await loadCa({ certFile: p('ca.pem'), keyFile: p('inter-key.pem') });
});
afterAll(() => dirs.cleanup());

describe('an intermediate CA from a company PKI (EC P-256)', () => {
  it('loads as a non-self-signed CA whose chain is sent after each leaf', async () => {
    expect(ca.selfSigned).toBe(false);
    expect(describeCa(ca)).toMatchObject({
      subject: 'C=DE, O=Acme Corp, OU=Network, CN=Acme egress CA',
      issuer: 'C=DE, O=Acme Corp, CN=Acme Root CA',
      key: 'ec prime256v1',
    });
    expect(exportCaPem(ca, { chain: true })).toBe(ca.chainPem);
    expect(ca.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it('issues ECDSA-signed leaves that chain to the root', async () => {
    const leaves = new LeafFactory({ ca, leafKey: await generateLeafKey() });
    const leaf = await leaves.get('intranet.acme.example');
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.checkIssued(ca.cert)).toBe(true);
    expect(cert.verify(ca.cert.publicKey)).toBe(true);
    expect(leaf.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(openssl(['x509', '-noout', '-text'], leaf.certPem)).toContain('Signature Algorithm: ecdsa-with-SHA256');
    const leafFile = await writeTemp(dir, 'leaf.pem', leaf.certPem);
    const verdict = opensslVerify(['-CAfile', rootFile, '-untrusted', join(dir, 'inter.pem'), '-purpose', 'sslserver', leafFile]);
    expect(verdict.output).toContain('OK');
    expect(verdict.ok).toBe(true);

    const outcome = await handshake(
      { sni: async (name) => (await leaves.get(name)).secureContext },
      { servername: 'intranet.acme.example', ca: await readFile(rootFile, 'utf8') },
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.ok).toBe(true);
  });
});
