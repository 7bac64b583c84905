import { X509Certificate } from 'node:crypto';
import { chmod, readFile, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  caFiles,
  createCa,
  describeCa,
  exportCaDer,
  exportCaPem,
  loadCa,
  loadOrCreateCa,
  writeCa,
  type CertificateAuthority,
} from '../../src/tls/index.js';
import { TlsError, type TlsErrorCode } from '../../src/tls/errors.js';
import { openssl, tempDirs, writeTemp } from './helpers.js';

const dirs = tempDirs();
const DAY = 86_400_000;

async function codeOf(promise: Promise<unknown>): Promise<TlsErrorCode | string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return err instanceof TlsError ? err.code : `untyped: ${String(err)}`;
  }
}

let ca: CertificateAuthority;
let other: CertificateAuthority;
let dir: string;
const createdAt = Date.now();

beforeAll(async () => {
  [ca, other] = await Promise.all([
    createCa({ subject: { commonName: 'Acme Test CA', organization: 'Acme', organizationalUnit: 'IT' }, validityDays: 30 }),
    createCa(),
  ]);
  dir = await dirs.make();
  await writeCa(dir, ca);
});
afterAll(() => dirs.cleanup());

describe('createCa', () => {
  it('sets basicConstraints CA:TRUE pathlen 0 and keyUsage keyCertSign+cRLSign, both critical', () => {
    const cert = forge.pki.certificateFromPem(ca.certPem);
    expect(cert.getExtension('basicConstraints')).toMatchObject({ cA: true, pathLenConstraint: 0, critical: true });
    const ku = cert.getExtension('keyUsage') as Record<string, unknown>;
    expect(ku).toMatchObject({ keyCertSign: true, cRLSign: true, critical: true });
    expect(ku.digitalSignature).toBeFalsy();
    const text = openssl(['x509', '-noout', '-text'], ca.certPem);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });

  it('has a subject key identifier (RFC 5280 method 1) and the configured subject', () => {
    const cert = forge.pki.certificateFromPem(ca.certPem);
    const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    expect(ski.subjectKeyIdentifier).toBe(ca.keyIdentifier?.toString('hex'));
    expect(ski.subjectKeyIdentifier).toBe(cert.generateSubjectKeyIdentifier().toHex());
    expect(ca.cert.subject.split('\n')).toEqual(['CN=Acme Test CA', 'O=Acme', 'OU=IT']);
    expect(ca.selfSigned).toBe(true);
    expect(ca.cert.verify(ca.cert.publicKey)).toBe(true);
  });

  it('is valid for the configured days and backdated for clock skew', () => {
    const notBefore = Date.parse(ca.cert.validFrom);
    const notAfter = Date.parse(ca.cert.validTo);
    expect(notBefore).toBeLessThan(createdAt - DAY);
    expect(Math.abs(notAfter - (createdAt + 30 * DAY))).toBeLessThan(60_000);
  });

  it('uses a positive random 16-byte serial', () => {
    expect(ca.cert.serialNumber).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(ca.cert.serialNumber).not.toBe(other.cert.serialNumber);
  });

  it('rejects out-of-range options with INVALID_OPTIONS', async () => {
    expect(await codeOf(createCa({ validityDays: 0 }))).toBe('INVALID_OPTIONS');
    expect(await codeOf(createCa({ subject: { commonName: 'x'.repeat(65) } }))).toBe('INVALID_OPTIONS');
  });
});

describe('writeCa', () => {
  it('writes the key with mode 0600, the certificate 0644, and leaves no temp files', async () => {
    expect((await stat(join(dir, CA_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, CA_CERT_FILE))).mode & 0o777).toBe(0o644);
    expect((await readdir(dir)).sort()).toEqual([CA_KEY_FILE, CA_CERT_FILE].sort());
  });

  it('round-trips through loadCa', async () => {
    const loaded = await loadCa(dir);
    expect(loaded.cert.fingerprint256).toBe(ca.cert.fingerprint256);
    expect(loaded.selfSigned).toBe(true);
    expect(loaded.chainPem).toBe('');
    expect(loaded.subjectName.equals(ca.subjectName)).toBe(true);
  });

  it('refuses to overwrite an existing CA (CA_EXISTS) unless told to', async () => {
    const before = await readFile(join(dir, CA_KEY_FILE), 'utf8');
    expect(await codeOf(writeCa(dir, other))).toBe('CA_EXISTS');
    expect(await readFile(join(dir, CA_KEY_FILE), 'utf8')).toBe(before);
    const dir2 = await dirs.make();
    await writeCa(dir2, ca);
    await writeCa(dir2, other, { overwrite: true });
    expect((await loadCa(dir2)).cert.fingerprint256).toBe(other.cert.fingerprint256);
    expect((await stat(join(dir2, CA_KEY_FILE))).mode & 0o777).toBe(0o600);
  });
});

describe('passphrase', () => {
  let encDir: string;
  beforeAll(async () => {
    encDir = await dirs.make();
    await writeCa(encDir, ca, { passphrase: 'correct horse' });
  });

  it('encrypts the key PEM in a form OpenSSL reads', async () => {
    const pem = await readFile(join(encDir, CA_KEY_FILE), 'utf8');
    expect(pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    const out = openssl(['pkey', '-in', join(encDir, CA_KEY_FILE), '-passin', 'pass:correct horse', '-pubout']);
    expect(out).toContain('BEGIN PUBLIC KEY');
  });

  it('loads with the passphrase, and fails with a typed code without or with a wrong one', async () => {
    expect((await loadCa(encDir, { passphrase: 'correct horse' })).cert.fingerprint256).toBe(ca.cert.fingerprint256);
    expect(await codeOf(loadCa(encDir))).toBe('CA_PASSPHRASE_REQUIRED');
    expect(await codeOf(loadCa(encDir, { passphrase: 'wrong' }))).toBe('CA_BAD_PASSPHRASE');
  });
});

describe('loading a bad CA', () => {
  it('fails with CA_KEY_MISMATCH when the key belongs to another certificate', async () => {
    const mixed = await dirs.make();
    await writeFile(join(mixed, CA_CERT_FILE), ca.certPem);
    await writeFile(join(mixed, CA_KEY_FILE), other.key.export({ type: 'pkcs8', format: 'pem' }));
    expect(await codeOf(loadCa(mixed))).toBe('CA_KEY_MISMATCH');
  });

  it('fails with CA_NOT_CA for a certificate without cA=TRUE, or without keyCertSign', async () => {
    const d = await dirs.make();
    const key = join(d, 'k.pem');
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
    const notCa = join(d, 'leaf.pem');
    openssl(['req', '-x509', '-key', key, '-subj', '/CN=not a ca', '-days', '2', '-out', notCa,
      '-addext', 'basicConstraints=critical,CA:FALSE']);
    expect(await codeOf(loadCa({ certFile: notCa, keyFile: key }))).toBe('CA_NOT_CA');
    const noSign = join(d, 'nosign.pem');
    openssl(['req', '-x509', '-key', key, '-subj', '/CN=ca without keyCertSign', '-days', '2', '-out', noSign,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature']);
    expect(await codeOf(loadCa({ certFile: noSign, keyFile: key }))).toBe('CA_NOT_CA');
  });

  it('fails with CA_UNREADABLE for missing files, garbage, or a non-PEM key', async () => {
    const d = await dirs.make();
    expect(await codeOf(loadCa(d))).toBe('CA_UNREADABLE');
    await writeFile(join(d, CA_CERT_FILE), 'not a certificate');
    await writeFile(join(d, CA_KEY_FILE), ca.key.export({ type: 'pkcs8', format: 'pem' }));
    expect(await codeOf(loadCa(d))).toBe('CA_UNREADABLE');
    await writeFile(join(d, CA_CERT_FILE), ca.certPem);
    await writeFile(join(d, CA_KEY_FILE), 'garbage');
    expect(await codeOf(loadCa(d))).toBe('CA_UNREADABLE');
  });

  it('fails with CA_EXPIRED / CA_NOT_YET_VALID outside its validity, unless allowExpired', async () => {
    expect(await codeOf(loadCa(dir, { now: () => createdAt + 31 * DAY }))).toBe('CA_EXPIRED');
    expect(await codeOf(loadCa(dir, { now: () => createdAt - 3 * DAY }))).toBe('CA_NOT_YET_VALID');
    const shown = await loadCa(dir, { now: () => createdAt + 31 * DAY, allowExpired: true });
    expect(shown.cert.fingerprint256).toBe(ca.cert.fingerprint256);
  });

  it('fails with CA_UNSUPPORTED_KEY for an Ed25519 CA', async () => {
    const d = await dirs.make();
    const key = join(d, 'ed.pem');
    const cert = join(d, 'ed-ca.pem');
    openssl(['genpkey', '-algorithm', 'ED25519', '-out', key]);
    openssl(['req', '-x509', '-key', key, '-subj', '/CN=ed25519 ca', '-days', '2', '-out', cert,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    expect(await codeOf(loadCa({ certFile: cert, keyFile: key }))).toBe('CA_UNSUPPORTED_KEY');
  });

  it('accepts a DER certificate file', async () => {
    const d = await dirs.make();
    const certFile = await writeTemp(d, 'ca.der', exportCaDer(ca));
    const keyFile = await writeTemp(d, 'ca-key.pem', ca.key.export({ type: 'pkcs8', format: 'pem' }));
    expect((await loadCa({ certFile, keyFile })).cert.fingerprint256).toBe(ca.cert.fingerprint256);
  });
});

describe('loadOrCreateCa', () => {
  it('creates a CA in an empty folder, then loads the same one', async () => {
    const d = await dirs.make();
    const first = await loadOrCreateCa(join(d, 'certs'), { create: { subject: { commonName: 'Auto CA' } } });
    expect(first.created).toBe(true);
    expect(describeCa(first.ca).subject).toBe('CN=Auto CA, O=egressd');
    const second = await loadOrCreateCa(join(d, 'certs'));
    expect(second.created).toBe(false);
    expect(second.warnings).toEqual([]);
    expect(second.ca.cert.fingerprint256).toBe(first.ca.cert.fingerprint256);
  });

  it('gives every concurrent caller the same CA (processes racing on first start)', async () => {
    const d = await dirs.make();
    const results = await Promise.all([1, 2, 3].map(() => loadOrCreateCa(d)));
    expect(new Set(results.map((r) => r.ca.cert.fingerprint256)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await loadCa(d)).cert.fingerprint256).toBe(results[0]!.ca.cert.fingerprint256);
  });

  it('refuses with CA_INCOMPLETE when only one of the two files exists', async () => {
    const d = await dirs.make();
    await writeCa(d, other);
    await unlink(caFiles(d).certFile);
    expect(await codeOf(loadOrCreateCa(d))).toBe('CA_INCOMPLETE');
  });

  it('warns when the key file is readable by others', async () => {
    const d = await dirs.make();
    await writeCa(d, other);
    await chmod(caFiles(d).keyFile, 0o644);
    const { warnings } = await loadOrCreateCa(d);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('chmod 600');
  });

  it('honours the passphrase for both creating and loading', async () => {
    const d = await dirs.make();
    await loadOrCreateCa(d, { passphrase: 'pw' });
    expect(await codeOf(loadOrCreateCa(d))).toBe('CA_PASSPHRASE_REQUIRED');
    expect((await loadOrCreateCa(d, { passphrase: 'pw' })).created).toBe(false);
  });
});

describe('describeCa and export', () => {
  it('reports subject, serial, validity and fingerprints as OpenSSL does', () => {
    const d = describeCa(ca);
    expect(d.subject).toBe('CN=Acme Test CA, O=Acme, OU=IT');
    expect(d.issuer).toBe(d.subject);
    expect(d.selfSigned).toBe(true);
    expect(d.key).toBe('rsa 2048');
    expect(d.notAfter.getTime()).toBe(Date.parse(ca.cert.validTo));
    const sha256 = openssl(['x509', '-noout', '-fingerprint', '-sha256'], ca.certPem);
    const sha1 = openssl(['x509', '-noout', '-fingerprint', '-sha1'], ca.certPem);
    const serial = openssl(['x509', '-noout', '-serial'], ca.certPem);
    expect(sha256.trim()).toBe(`sha256 Fingerprint=${d.fingerprintSha256}`);
    expect(sha1.trim()).toBe(`sha1 Fingerprint=${d.fingerprintSha1}`);
    expect(serial.trim()).toBe(`serial=${d.serialNumber}`);
  });

  it('exports PEM and DER of the same certificate', () => {
    const pem = exportCaPem(ca);
    const der = exportCaDer(ca);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(new X509Certificate(der).fingerprint256).toBe(ca.cert.fingerprint256);
    expect(new X509Certificate(pem).raw.equals(der)).toBe(true);
    expect(exportCaPem(ca, { chain: true })).toBe(pem); // a root has no chain
  });
});
