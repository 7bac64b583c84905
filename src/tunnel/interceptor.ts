import type { Logger } from 'pino';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { compileHostList, type TlsChoice } from '../policy/index.js';
import type { CaDownload } from '../exchange/local-pages.js';
import { describeCa, exportCaDer, exportCaPem, LeafFactory, loadCa, loadOrCreateCa, type CertificateAuthority } from '../tls/index.js';

/** Hosts whose clients rejected our certificate, and since when they are tunnelled. */
interface Rejections {
  count: number;
  /** While > now: tunnel untouched (learned pinning). */
  learnedUntil: number;
}

/**
 * What TLS interception needs, built once from the config: the CA, the leaf factory
 * (memory + disk cache), the include/exclude choice, and what was learned about hosts
 * whose clients pin their certificates.
 */
export class Interceptor {
  private include: (host: string) => boolean = () => false;
  private exclude: (host: string) => boolean = () => false;
  private mode: Config['tls']['intercept'] = 'off';
  private learnAfter = 0;
  private learnFor = 0;
  private readonly rejections = new Map<string, Rejections>();
  /** The CA as served to devices (PEM, DER, fingerprint). */
  readonly download: CaDownload;

  private constructor(
    readonly ca: CertificateAuthority,
    readonly leaves: LeafFactory,
    private readonly log: Logger,
    config: Readonly<Config>,
  ) {
    const d = describeCa(ca);
    this.download = { pem: exportCaPem(ca), der: exportCaDer(ca), sha256: d.fingerprintSha256, subject: d.subject };
    this.configure(config);
  }

  /** Load the CA (creating it on first use, and saying so) and the leaf factory. */
  static async create(config: Readonly<Config>, log: Logger): Promise<Interceptor> {
    const { ca: c, leafCacheSize, leafDiskCacheSize } = config.tls;
    const passphrase = process.env[c.passphraseEnv] || undefined;
    const { ca, created, warnings } = await loadOrCreateCa(c.dir, {
      passphrase,
      create: { subject: { commonName: c.commonName, organization: c.organization }, validityDays: c.validityDays },
    });
    const d = describeCa(ca);
    if (created) {
      log.warn({ dir: c.dir, subject: d.subject, sha256: d.fingerprintSha256 }, `created a new interception CA in ${c.dir}: clients must trust it (see docs/deploy-ca.md)`);
    } else {
      log.info({ dir: c.dir, subject: d.subject, sha256: d.fingerprintSha256 }, 'interception CA loaded');
    }
    for (const w of warnings) log.warn(w);
    const leaves = await LeafFactory.create({ ca, cacheDir: join(c.dir, 'leaves'), maxEntries: leafCacheSize, storeMaxEntries: leafDiskCacheSize });
    return new Interceptor(ca, leaves, log, config);
  }

  /**
   * At a reload. The CA is never swapped while running (the leaf cache and every device
   * trust the one loaded at start), but a CA folder that would stop the next start, or a
   * CA replaced on disk, is worth saying now rather than at the next restart.
   */
  async recheck(config: Readonly<Config>): Promise<void> {
    const c = config.tls.ca;
    try {
      const onDisk = await loadCa(c.dir, { passphrase: process.env[c.passphraseEnv] || undefined });
      if (onDisk.cert.fingerprint256 !== this.ca.cert.fingerprint256) {
        this.log.warn({ dir: c.dir }, `the interception CA in ${c.dir} changed on disk: the CA loaded at start stays in force until the next restart`);
      }
    } catch (err) {
      const e = err as Error & { code?: string };
      this.log.error({ dir: c.dir, code: e.code }, `interception CA: ${e.message}; the CA loaded at start stays in force, and the next start will fail until this is fixed`);
    }
  }

  configure(config: Readonly<Config>): void {
    const t = config.tls;
    this.mode = t.intercept;
    this.include = compileHostList(t.include);
    this.exclude = compileHostList(t.exclude);
    this.learnAfter = t.learnAfterRejects;
    this.learnFor = t.learnFor;
  }

  /**
   * Decrypt or not. The config's exclude list and learned pinning always win (a pinned
   * app cannot be intercepted anyway); then a policy rule's choice; then the config.
   */
  choose(host: string, fromPolicy: TlsChoice | undefined, now = Date.now()): TlsChoice {
    if (this.exclude(host) || this.learned(host, now)) return 'tunnel';
    if (fromPolicy) return fromPolicy;
    if (this.mode === 'all') return 'intercept';
    if (this.mode === 'hosts' && this.include(host)) return 'intercept';
    return 'tunnel';
  }

  /** Might a CONNECT to this host be intercepted? (Then the SNI must be peeked first.) */
  mayIntercept(fromPolicy: TlsChoice | undefined): boolean {
    return fromPolicy === 'intercept' || (fromPolicy !== 'tunnel' && this.mode !== 'off');
  }

  learned(host: string, now = Date.now()): boolean {
    const r = this.rejections.get(host);
    return r !== undefined && r.learnedUntil > now;
  }

  /** A client refused our certificate for `host`. Returns true when the host is now learned. */
  recordRejection(host: string, now = Date.now()): boolean {
    if (this.learnAfter === 0) return false;
    const r = this.rejections.get(host) ?? { count: 0, learnedUntil: 0 };
    r.count++;
    if (this.rejections.size > 100_000) this.rejections.clear();
    this.rejections.set(host, r);
    if (r.count >= this.learnAfter && r.learnedUntil <= now) {
      r.learnedUntil = now + this.learnFor;
      r.count = 0;
      this.log.warn({ host, until: new Date(r.learnedUntil).toISOString() }, `clients keep rejecting the interception certificate for ${host}: tunnelling it untouched for ${Math.round(this.learnFor / 1000)} s`);
      return true;
    }
    return false;
  }

  /** Hosts currently tunnelled because of learned pinning (for status output). */
  learnedHosts(now = Date.now()): { host: string; until: string }[] {
    return [...this.rejections].filter(([, r]) => r.learnedUntil > now).map(([host, r]) => ({ host, until: new Date(r.learnedUntil).toISOString() }));
  }
}
