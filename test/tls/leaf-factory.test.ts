import { X509Certificate } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LEAF_HOSTS_DIR,
  LEAF_KEY_FILE,
  LeafFactory,
  createCa,
  generateLeafKey,
  writeCa,
  type CertStore,
  type CertificateAuthority,
  type LeafEvent,
  type LeafKey,
} from '../../src/tls/index.js';
import { TlsError } from '../../src/tls/errors.js';
import { handshake, openssl, opensslVerify, tempDirs, writeTemp } from './helpers.js';

const dirs = tempDirs();
const DAY = 86_400_000;
const HOUR = 3_600_000;

let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let leafKey: LeafKey;
let caDir: string;

beforeAll(async () => {
  [ca, otherCa, leafKey] = await Promise.all([createCa(), createCa(), generateLeafKey()]);
  caDir = await dirs.make();
  await writeCa(caDir, ca);
});
afterAll(() => dirs.cleanup());

function factory(options: Partial<ConstructorParameters<typeof LeafFactory>[0]> = {}): LeafFactory {
  return new LeafFactory({ ca, leafKey, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof TlsError ? err.code : `untyped: ${String(err)}`),
  );
}

describe('a leaf certificate', () => {
  let f: LeafFactory;
  let cert: X509Certificate;
  let issuedAt: number;
  beforeAll(async () => {
    f = factory();
    issuedAt = Date.now();
    cert = new X509Certificate((await f.get('www.example.com')).certPem);
  });

  it('chains to the CA (checkIssued and signature)', () => {
    expect(cert.checkIssued(ca.cert)).toBe(true);
    expect(cert.verify(ca.cert.publicKey)).toBe(true);
    expect(cert.verify(otherCa.cert.publicKey)).toBe(false);
    expect(cert.issuer).toBe(ca.cert.subject);
  });

  it('has the SAN, CN, key usages and the shared leaf key', () => {
    expect(cert.subjectAltName).toBe('DNS:www.example.com');
    expect(cert.subject.split('\n')).toContain('CN=www.example.com');
    expect(cert.checkHost('www.example.com')).toBe('www.example.com');
    expect(cert.checkHost('other.example.com')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extKeyUsage serverAuth only
    expect(cert.ca).toBe(false);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(leafKey.spkiDer)).toBe(true);
    const parsed = forge.pki.certificateFromPem(cert.toString());
    expect(parsed.getExtension('keyUsage')).toMatchObject({ critical: true, digitalSignature: true, keyEncipherment: true });
    expect(parsed.getExtension('keyUsage')).not.toMatchObject({ keyCertSign: true });
    expect(parsed.getExtension('basicConstraints')).toMatchObject({ cA: false, critical: true });
  });

  it('carries an authority key identifier equal to the CA subject key identifier', () => {
    const text = openssl(['x509', '-noout', '-text'], cert.toString());
    const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    expect(aki?.replaceAll(':', '').toLowerCase()).toBe(ca.keyIdentifier?.toString('hex'));
    expect(text).toMatch(/Subject Key Identifier:\s*\n\s*[0-9A-F:]{59}/);
  });

  it('is backdated one hour and valid for at most 397 days', () => {
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    expect(Math.abs(notBefore - (issuedAt - HOUR))).toBeLessThan(5_000);
    expect(notAfter - notBefore).toBeLessThanOrEqual(397 * DAY);
    expect(notAfter - notBefore).toBeGreaterThan(396 * DAY);
  });

  it('passes openssl verify as a TLS server certificate for its host', async () => {
    const d = await dirs.make();
    const leafFile = await writeTemp(d, 'leaf.pem', cert.toString());
    const caFile = join(caDir, 'ca.pem');
    const good = opensslVerify(['-CAfile', caFile, '-purpose', 'sslserver', '-verify_hostname', 'www.example.com', leafFile]);
    expect(good.output).toContain('OK');
    expect(good.ok).toBe(true);
    expect(opensslVerify(['-CAfile', caFile, '-verify_hostname', 'evil.example.com', leafFile]).ok).toBe(false);
    const otherFile = await writeTemp(d, 'other.pem', otherCa.certPem);
    expect(opensslVerify(['-CAfile', otherFile, leafFile]).ok).toBe(false);
  });

  it('has a unique positive 16-byte serial, also reported on the IssuedLeaf', async () => {
    const leaves = await Promise.all(Array.from({ length: 40 }, (_, i) => f.get(`s${i}.example.net`)));
    const serials = leaves.map((l) => new X509Certificate(l.certPem).serialNumber);
    expect(new Set(serials).size).toBe(40);
    for (const s of serials) expect(s).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(leaves.map((l) => l.serialNumber)).toEqual(serials);
  });
});

describe('TLS handshakes with a leaf', () => {
  const f = () => factory();

  it('succeeds for a client that trusts only the CA, with the hostname check', async () => {
    const leaves = f();
    const outcome = await handshake(
      { sni: async (name) => (await leaves.get(name)).secureContext },
      { servername: 'shop.example.com', ca: ca.certPem, ALPNProtocols: ['http/1.1'] },
    );
    expect(outcome.error).toBeUndefined();
    expect(outcome.ok).toBe(true);
    expect(outcome.alpn).toBe('http/1.1');
    expect(outcome.peerCertificate?.subjectaltname).toBe('DNS:shop.example.com');
  });

  it('fails for a client without the CA, and for a name the leaf does not cover', async () => {
    const leaves = f();
    const untrusted = await handshake(
      { sni: async (name) => (await leaves.get(name)).secureContext },
      { servername: 'shop.example.com', ca: otherCa.certPem },
    );
    expect(untrusted.ok).toBe(false);
    expect(untrusted.error?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const wrongHost = await handshake(
      { sni: async () => (await leaves.get('shop.example.com')).secureContext },
      { servername: 'bank.example.com', ca: ca.certPem },
    );
    expect(wrongHost.ok).toBe(false);
    expect(wrongHost.error?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('serves an IP leaf (IP SAN) to a client connecting to an IP without SNI', async () => {
    const leaf = await f().get('127.0.0.1');
    const outcome = await handshake({ keyCert: { key: leaf.keyPem, cert: leaf.chainPem } }, { ca: ca.certPem });
    expect(outcome.error).toBeUndefined();
    expect(outcome.peerCertificate?.subjectaltname).toBe('IP Address:127.0.0.1');
  });
});

describe('host names', () => {
  it('puts an IP SAN, not a DNS SAN, in IPv4 and IPv6 leaves', async () => {
    const leaves = factory();
    const v4 = new X509Certificate((await leaves.get('10.1.2.3')).certPem);
    expect(v4.subjectAltName).toBe('IP Address:10.1.2.3');
    expect(v4.checkIP('10.1.2.3')).toBe('10.1.2.3');
    const v6leaf = await leaves.get('[2001:DB8:0:0::1]');
    expect(v6leaf.host).toBe('2001:db8::1');
    const v6 = new X509Certificate(v6leaf.certPem);
    expect(v6.subjectAltName).toBe('IP Address:2001:DB8:0:0:0:0:0:1');
    expect(v6.checkIP('2001:db8::1')).toBeDefined();
  });

  it('normalises case and a trailing dot to one leaf', async () => {
    const leaves = factory();
    const a = await leaves.get('Example.COM.');
    const b = await leaves.get('example.com');
    expect(b).toBe(a);
    expect(a.host).toBe('example.com');
    expect(leaves.stats.issued).toBe(1);
  });

  it('omits the CN for names longer than 64 characters but keeps the SAN', async () => {
    const name = `${'a'.repeat(60)}.${'b'.repeat(20)}.example`;
    const cert = new X509Certificate((await factory().get(name)).certPem);
    expect(cert.subject).toBe('O=egressd');
    expect(cert.subjectAltName).toBe(`DNS:${name}`);
  });

  it.each(['', '.', '*.example.com', 'a..b', 'exa mple.com', 'exämple.com', `${'a'.repeat(64)}.com`, 'x.'.repeat(130), 'fe80::1%eth0'])(
    'rejects %j with INVALID_HOST',
    async (name) => {
      expect(await rejection(factory().get(name))).toBe('INVALID_HOST');
    },
  );
});

describe('memory cache and issuance', () => {
  it('issues once for many concurrent requests for one new host', async () => {
    const leaves = factory();
    const results = await Promise.all(Array.from({ length: 50 }, () => leaves.get('burst.example.com')));
    expect(new Set(results).size).toBe(1);
    expect(leaves.stats).toMatchObject({ issued: 1, coalesced: 49 });
    await leaves.get('burst.example.com');
    expect(leaves.stats.memoryHits).toBe(1);
  });

  it('peeks synchronously at cached leaves only', async () => {
    const leaves = factory();
    expect(leaves.peek('peek.example.com')).toBeUndefined();
    const leaf = await leaves.get('peek.example.com');
    expect(leaves.peek('PEEK.example.com')).toBe(leaf);
    expect(leaves.peek('*bad*')).toBeUndefined();
  });

  it('keeps at most maxEntries leaves and reissues evicted ones', async () => {
    const leaves = factory({ maxEntries: 3 });
    for (const h of ['a.test', 'b.test', 'c.test', 'd.test']) await leaves.get(h);
    expect(leaves.size).toBe(3);
    await leaves.get('a.test');
    expect(leaves.stats.issued).toBe(5);
  });

  it('reissues a leaf that is due for renewal', async () => {
    let now = Date.now();
    const leaves = factory({ now: () => now, renewBeforeMs: 7 * DAY });
    const first = await leaves.get('renew.example.com');
    now += 389 * DAY; // 397 - 389 = 8 days left (minus the backdate): still fresh
    expect(await leaves.get('renew.example.com')).toBe(first);
    now += 2 * DAY;
    const second = await leaves.get('renew.example.com');
    expect(second).not.toBe(first);
    expect(second.serialNumber).not.toBe(first.serialNumber);
  });

  it('never issues beyond the CA notAfter, and refuses once the CA has expired', async () => {
    const shortCa = await createCa({ validityDays: 10 });
    const leaves = new LeafFactory({ ca: shortCa, leafKey });
    const leaf = await leaves.get('short.example.com');
    expect(leaf.notAfter.getTime()).toBe(Date.parse(shortCa.cert.validTo));
    const late = new LeafFactory({ ca: shortCa, leafKey, now: () => Date.now() + 11 * DAY });
    expect(await rejection(late.get('late.example.com'))).toBe('CA_EXPIRED');
  });

  it('rejects a validity over 397 days with INVALID_OPTIONS', () => {
    expect(() => factory({ validityDays: 398 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('reports issuances through onEvent', async () => {
    const events: LeafEvent[] = [];
    await factory({ onEvent: (e) => events.push(e) }).get('events.example.com');
    expect(events).toEqual([{ type: 'issued', host: 'events.example.com', ms: expect.any(Number) }]);
  });
});

describe('disk cache', () => {
  let cacheDir: string;
  beforeAll(async () => {
    cacheDir = await dirs.make();
  });

  async function diskFactory(options: Partial<Parameters<typeof LeafFactory.create>[0]> = {}) {
    const events: LeafEvent[] = [];
    const f = await LeafFactory.create({ ca, cacheDir, onEvent: (e) => events.push(e), ...options });
    return { f, events };
  }

  it('persists the leaf key (0600) and leaves, and a new factory reuses both', async () => {
    const { f: first, events } = await diskFactory();
    expect(events[0]).toEqual({ type: 'leaf-key', status: 'created' });
    const leaf = await first.get('persist.example.com');
    await first.flush();
    expect((await stat(join(cacheDir, LEAF_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await readdir(join(cacheDir, LEAF_HOSTS_DIR))).toContain('persist.example.com.pem');

    const { f: second, events: events2 } = await diskFactory();
    expect(events2[0]).toEqual({ type: 'leaf-key', status: 'loaded' });
    const again = await second.get('persist.example.com');
    expect(again.serialNumber).toBe(leaf.serialNumber);
    expect(again.certPem).toBe(leaf.certPem);
    expect(second.stats).toMatchObject({ issued: 0, storeHits: 1 });
    const outcome = await handshake({ sni: async () => again.secureContext }, { servername: 'persist.example.com', ca: ca.certPem });
    expect(outcome.ok).toBe(true);
  });

  it('stores IPv6 leaves under a portable file name', async () => {
    const { f } = await diskFactory();
    await f.get('::1');
    await f.flush();
    expect(await readdir(join(cacheDir, LEAF_HOSTS_DIR))).toContain('++1.pem');
    const { f: again } = await diskFactory();
    await again.get('::1');
    expect(again.stats.storeHits).toBe(1);
  });

  it.each([
    ['a corrupted file', 'unparsable', async (file: string) => writeFile(file, '-----BEGIN CERTIFICATE-----\ngarbage\n')],
    ['a truncated file', 'unparsable', async (file: string) => writeFile(file, (await readFile(file, 'utf8')).slice(0, 300))],
    ['a leaf from another CA', 'not issued by the current CA', async (file: string) => {
      const foreign = await new LeafFactory({ ca: otherCa, leafKey }).get('victim.example.com');
      await writeFile(file, foreign.certPem);
    }],
    ['a leaf for another host', 'issued for another host', async (file: string) => {
      const { f } = await diskFactory();
      await writeFile(file, (await f.get('someone-else.example.com')).certPem);
    }],
    ['a leaf for another leaf key', 'issued for another leaf key', async (file: string) => {
      const foreign = await new LeafFactory({ ca, leafKey }).get('victim.example.com');
      await writeFile(file, foreign.certPem);
    }],
  ])('discards %s and reissues', async (_label, reason, damage) => {
    const { f } = await diskFactory();
    const original = await f.get('victim.example.com');
    await f.flush();
    const file = join(cacheDir, LEAF_HOSTS_DIR, 'victim.example.com.pem');
    await damage(file);

    const { f: next, events } = await diskFactory();
    const leaf = await next.get('victim.example.com');
    expect(events).toContainEqual({ type: 'store-discarded', host: 'victim.example.com', reason });
    expect(next.stats).toMatchObject({ issued: 1, storeDiscarded: 1, storeHits: 0 });
    expect(leaf.serialNumber).not.toBe(original.serialNumber);
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.checkIssued(ca.cert) && cert.checkHost('victim.example.com')).toBeTruthy();
    await next.flush();
    expect(await readFile(file, 'utf8')).toBe(leaf.certPem); // replaced on disk too
  });

  it('discards a stored leaf that is expired or due for renewal', async () => {
    const { f } = await diskFactory();
    await f.get('old.example.com');
    await f.flush();
    const { f: later, events } = await diskFactory({ now: () => Date.now() + 392 * DAY });
    await later.get('old.example.com');
    expect(events).toContainEqual({ type: 'store-discarded', host: 'old.example.com', reason: 'expired or due for renewal' });
  });

  it('replaces a corrupt leaf key; leaves cached for the old key are then reissued', async () => {
    const d = await dirs.make();
    const first = await LeafFactory.create({ ca, cacheDir: d });
    await first.get('rekey.example.com');
    await first.flush();
    await writeFile(join(d, LEAF_KEY_FILE), 'not a key');
    const events: LeafEvent[] = [];
    const second = await LeafFactory.create({ ca, cacheDir: d, onEvent: (e) => events.push(e) });
    expect(events[0]).toMatchObject({ type: 'leaf-key', status: 'replaced' });
    await second.get('rekey.example.com');
    expect(events).toContainEqual({ type: 'store-discarded', host: 'rekey.example.com', reason: 'issued for another leaf key' });
  });

  it('purges one host or everything, from memory and disk', async () => {
    const d = await dirs.make();
    const f = await LeafFactory.create({ ca, cacheDir: d, leafKey });
    await Promise.all(['p1.test', 'p2.test', 'p3.test'].map((h) => f.get(h)));
    await f.purge('P1.test');
    expect((await readdir(join(d, LEAF_HOSTS_DIR))).sort()).toEqual(['p2.test.pem', 'p3.test.pem']);
    expect(f.peek('p1.test')).toBeUndefined();
    await f.purge();
    expect(await readdir(join(d, LEAF_HOSTS_DIR))).toEqual([]);
    expect(f.size).toBe(0);
  });

  it('still serves leaves when the store fails, and reports the failure', async () => {
    const broken: CertStore = {
      get: async () => Promise.reject(new Error('EIO')),
      set: async () => Promise.reject(new Error('ENOSPC')),
      delete: async () => undefined,
      clear: async () => undefined,
    };
    const events: LeafEvent[] = [];
    const f = factory({ store: broken, onEvent: (e) => events.push(e) });
    const leaf = await f.get('robust.example.com');
    await f.flush();
    expect(leaf.certPem).toContain('BEGIN CERTIFICATE');
    expect(f.stats.storeErrors).toBe(2);
    expect(events.map((e) => e.type)).toEqual(['store-error', 'issued', 'store-error']);
  });
});
