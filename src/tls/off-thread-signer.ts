import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CertificateAuthority } from './ca.js';
import { TlsError } from './errors.js';
import type { NormalizedHost } from './host-name.js';
import type { LeafKey } from './leaf-key.js';
import { LeafSigner, type LeafCertificate, type LeafSignerOptions } from './leaf-signer.js';
import type { LeafWorkerData, LeafWorkerReply } from './leaf-worker.js';

/** What issues leaf certificates: in this thread, or in a worker. */
export interface Signer {
  issue(host: NormalizedHost, now: number): Promise<LeafCertificate>;
}

/**
 * The compiled worker script. From dist/ it sits next to this file; when this module
 * runs from the TypeScript sources (vitest), the compiled copy in dist/ is used, and
 * without one the caller signs in-thread.
 */
function workerScript(): URL | null {
  for (const rel of ['./leaf-worker.js', '../../dist/tls/leaf-worker.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

/**
 * Builds and signs leaves in a worker thread: node-forge's ASN.1 building is about
 * 0.8 ms of CPU per certificate, which would otherwise stall every connection on the
 * event loop. If the worker cannot start or dies, issuance falls back to this thread
 * (requests in flight are redone here), so a broken worker never breaks interception.
 */
export class OffThreadSigner implements Signer {
  private worker: Worker | null = null;
  private failed = false;
  private nextId = 1;
  private readonly pending = new Map<number, { host: NormalizedHost; now: number; resolve: (c: LeafCertificate) => void; reject: (e: Error) => void }>();
  private readonly local: LeafSigner;

  constructor(
    private readonly ca: CertificateAuthority,
    private readonly leafKey: LeafKey,
    private readonly options: LeafSignerOptions = {},
  ) {
    this.local = new LeafSigner(ca, leafKey, options);
  }

  /** Whether certificates are currently built off the event loop. */
  get offThread(): boolean {
    return !this.failed && this.ensureWorker() !== null;
  }

  issue(host: NormalizedHost, now: number): Promise<LeafCertificate> {
    const worker = this.failed ? null : this.ensureWorker();
    if (!worker) return this.local.issue(host, now);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { host, now, resolve, reject });
      worker.ref(); // keep it alive while it owes an answer
      worker.postMessage({ id, host, now });
    });
  }

  /** Stop the worker (tests, shutdown); later issuances start a new one. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | null {
    if (this.worker) return this.worker;
    const script = workerScript();
    if (!script) {
      this.failed = true;
      return null;
    }
    const ca = this.ca;
    const data: LeafWorkerData = {
      certPem: ca.certPem,
      chainPem: ca.chainPem,
      caKey: ca.key,
      subjectName: ca.subjectName,
      keyIdentifier: ca.keyIdentifier ?? null,
      selfSigned: ca.selfSigned,
      leafKey: this.leafKey.privateKey,
      options: this.options,
    };
    const w = new Worker(script, { workerData: data });
    w.unref();
    w.on('message', (m: LeafWorkerReply) => this.answer(m));
    w.on('error', () => this.giveUp(w));
    w.on('exit', () => this.giveUp(w));
    this.worker = w;
    return w;
  }

  private answer(m: LeafWorkerReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (m.ok) {
      p.resolve({ der: Buffer.from(m.der), pem: m.pem, serialHex: m.serialHex, notBefore: new Date(m.notBefore), notAfter: new Date(m.notAfter) });
    } else {
      // The signer's own code (CA_EXPIRED, LEAF_ISSUE_FAILED…) crosses the thread boundary.
      p.reject(new TlsError((m.code ?? 'LEAF_ISSUE_FAILED') as ConstructorParameters<typeof TlsError>[0], m.message));
    }
  }

  /** The worker is gone: redo what it owed in this thread, and sign here from now on. */
  private giveUp(w: Worker): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.failed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.local.issue(p.host, p.now).then(p.resolve, p.reject);
    }
  }
}
