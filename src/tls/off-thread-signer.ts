import type { CertificateAuthority } from './ca.js';
import { TlsError } from './errors.js';
import type { NormalizedHost } from './host-name.js';
import type { LeafKey } from './leaf-key.js';
import { LeafSigner, type LeafCertificate, type LeafSignerOptions } from './leaf-signer.js';
import type { LeafWorkerData, LeafWorkerReply } from './leaf-worker.js';
import { compiledScript, JobThread } from '../thread/job-thread.js';

/** What issues leaf certificates: in this thread, or in a worker. */
export interface Signer {
  issue(host: NormalizedHost, now: number): Promise<LeafCertificate>;
}

type Job = { host: NormalizedHost; now: number };

/**
 * Builds and signs leaves in a worker thread (a JobThread): node-forge's ASN.1
 * building is about 0.8 ms of CPU per certificate, which would otherwise stall every
 * connection on the event loop. If the worker cannot start or dies, issuance falls back
 * to this thread, so a broken worker never breaks interception.
 */
export class OffThreadSigner implements Signer {
  private readonly thread: JobThread<Job, LeafCertificate, LeafWorkerReply>;

  constructor(ca: CertificateAuthority, leafKey: LeafKey, options: LeafSignerOptions = {}) {
    const local = new LeafSigner(ca, leafKey, options);
    this.thread = new JobThread({
      script: compiledScript(import.meta.url, 'tls/leaf-worker.js'),
      workerData: (): LeafWorkerData => ({
        certPem: ca.certPem,
        chainPem: ca.chainPem,
        caKey: ca.key,
        subjectName: ca.subjectName,
        keyIdentifier: ca.keyIdentifier ?? null,
        selfSigned: ca.selfSigned,
        leafKey: leafKey.privateKey,
        options,
      }),
      local: (j) => local.issue(j.host, j.now),
      settle: (m) =>
        m.ok
          ? { der: Buffer.from(m.der), pem: m.pem, serialHex: m.serialHex, notBefore: new Date(m.notBefore), notAfter: new Date(m.notAfter) }
          : // The signer's own code (CA_EXPIRED, LEAF_ISSUE_FAILED…) crosses the thread boundary.
            new TlsError((m.code ?? 'LEAF_ISSUE_FAILED') as ConstructorParameters<typeof TlsError>[0], m.message),
    });
  }

  /** Whether certificates are currently built off the event loop. */
  get offThread(): boolean {
    return this.thread.offThread;
  }

  issue(host: NormalizedHost, now: number): Promise<LeafCertificate> {
    return this.thread.run({ host, now });
  }

  /** Stop the worker (tests, shutdown); issuances it still owed finish in this thread, later ones start a new worker. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
