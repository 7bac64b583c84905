import { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, generateLeafKey, type CertificateAuthority, type LeafKey } from '../../src/tls/index.js';
import { normalizeHost } from '../../src/tls/host-name.js';
import { OffThreadSigner } from '../../src/tls/off-thread-signer.js';
import { ensureBuilt } from '../helpers/err-cli.js';

/**
 * Leaf certificates built and signed in a worker thread: the same certificates as in
 * this thread, the event loop stays free meanwhile, and a worker that dies mid-way is
 * replaced by in-thread signing with nothing lost.
 */

let ca: CertificateAuthority;
let leafKey: LeafKey;
const signers: OffThreadSigner[] = [];

beforeAll(async () => {
  ensureBuilt(); // the worker runs the compiled dist/tls/leaf-worker.js
  ca = await createCa();
  leafKey = await generateLeafKey();
});
afterAll(async () => {
  for (const s of signers) await s.close();
});

const make = (): OffThreadSigner => {
  const s = new OffThreadSigner(ca, leafKey);
  signers.push(s);
  return s;
};

describe('OffThreadSigner', () => {
  it('issues in a worker: the leaf names the host, chains to the CA, and the event loop is not blocked meanwhile', async () => {
    const s = make();
    expect(s.offThread).toBe(true);
    await s.issue(normalizeHost('warm.example'), Date.now()); // start-up of the worker
    // While 20 leaves are built, a 1 ms timer keeps firing: the loop is free.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const certs = await Promise.all(Array.from({ length: 20 }, (_, i) => s.issue(normalizeHost(`h${i}.example`), Date.now())));
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(elapsed / 10);
    for (const [i, c] of certs.entries()) {
      const x = new X509Certificate(c.der);
      expect(x.subjectAltName).toBe(`DNS:h${i}.example`);
      expect(x.verify(ca.cert.publicKey)).toBe(true);
      expect(x.checkIssued(ca.cert)).toBe(true);
    }
    expect(new Set(certs.map((c) => c.serialHex)).size).toBe(20);
  });

  it('keeps the signer\'s error codes (an expired CA is CA_EXPIRED, not a generic failure)', async () => {
    const s = make();
    await expect(s.issue(normalizeHost('late.example'), Date.parse(ca.cert.validTo) + 86_400_000)).rejects.toMatchObject({ code: 'CA_EXPIRED' });
  });

  it('a worker that dies with issuances in flight: they are redone in this thread and later ones sign here', async () => {
    const s = make();
    await s.issue(normalizeHost('first.example'), Date.now());
    const inFlight = Array.from({ length: 5 }, (_, i) => s.issue(normalizeHost(`d${i}.example`), Date.now()));
    await (s as unknown as { thread: { worker: { terminate(): Promise<number> } } }).thread.worker.terminate();
    const done = await Promise.all(inFlight);
    expect(done.map((c) => new X509Certificate(c.der).subjectAltName)).toEqual(['DNS:d0.example', 'DNS:d1.example', 'DNS:d2.example', 'DNS:d3.example', 'DNS:d4.example']);
    expect(s.offThread).toBe(false);
    const after = await s.issue(normalizeHost('after.example'), Date.now());
    expect(new X509Certificate(after.der).subjectAltName).toBe('DNS:after.example');
  });

  it('close() with issuances in flight still answers them (they finish in this thread)', async () => {
    const s = make();
    await s.issue(normalizeHost('warm.example'), Date.now());
    const owed = Array.from({ length: 3 }, (_, i) => s.issue(normalizeHost(`c${i}.example`), Date.now()));
    await s.close();
    const done = await Promise.all(owed);
    expect(done.map((c) => new X509Certificate(c.der).subjectAltName)).toEqual(['DNS:c0.example', 'DNS:c1.example', 'DNS:c2.example']);
  });
});
