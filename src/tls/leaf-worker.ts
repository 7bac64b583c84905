import { X509Certificate, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import type { CertificateAuthority } from './ca.js';
import type { NormalizedHost } from './host-name.js';
import { leafKeyFrom } from './leaf-key.js';
import { LeafSigner, type LeafSignerOptions } from './leaf-signer.js';

/**
 * Worker thread that builds and signs leaf certificates (off-thread-signer.ts), so the
 * ASN.1 work done by node-forge does not run on the proxy's event loop.
 */
export interface LeafWorkerData {
  certPem: string;
  chainPem: string;
  caKey: KeyObject;
  subjectName: Uint8Array;
  keyIdentifier: Uint8Array | null;
  selfSigned: boolean;
  leafKey: KeyObject;
  options: LeafSignerOptions;
}

export type LeafWorkerRequest = { id: number; host: NormalizedHost; now: number };
export type LeafWorkerReply =
  | { id: number; ok: true; der: Uint8Array; pem: string; serialHex: string; notBefore: number; notAfter: number }
  | { id: number; ok: false; message: string; code: string | undefined };

if (parentPort) {
  const d = workerData as LeafWorkerData;
  const ca: CertificateAuthority = {
    cert: new X509Certificate(d.certPem),
    certPem: d.certPem,
    chainPem: d.chainPem,
    key: d.caKey,
    subjectName: Buffer.from(d.subjectName),
    keyIdentifier: d.keyIdentifier ? Buffer.from(d.keyIdentifier) : undefined,
    selfSigned: d.selfSigned,
  };
  const signer = new LeafSigner(ca, leafKeyFrom(d.leafKey), d.options);
  const port = parentPort;
  port.on('message', (m: LeafWorkerRequest) => {
    signer.issue(m.host, m.now).then(
      (c) => port.postMessage({ id: m.id, ok: true, der: c.der, pem: c.pem, serialHex: c.serialHex, notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime() } satisfies LeafWorkerReply),
      (err: unknown) => port.postMessage({ id: m.id, ok: false, message: (err as Error).message, code: (err as { code?: string }).code } satisfies LeafWorkerReply),
    );
  });
}
