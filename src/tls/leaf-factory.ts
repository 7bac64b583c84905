import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { CertificateAuthority } from './ca.js';
import { readCertFields } from './cert-fields.js';
import { DiskCertStore, type CertStore } from './cert-store.js';
import { normalizeHost, type HostKind, type NormalizedHost } from './host-name.js';
import { generateLeafKey, loadOrCreateLeafKey, type LeafKey } from './leaf-key.js';
import { LeafSigner, type LeafSignerOptions } from './leaf-signer.js';
import { OffThreadSigner, type Signer } from './off-thread-signer.js';

export const LEAF_KEY_FILE = 'leaf-key.pem';
export const LEAF_HOSTS_DIR = 'hosts';

/** A leaf ready for a TLS server: pass `secureContext` from an SNICallback. */
export interface IssuedLeaf {
  readonly host: string;
  readonly kind: HostKind;
  /** The leaf certificate alone. */
  readonly certPem: string;
  /** The leaf followed by the CA's chain (empty for a self-signed root): what the server sends. */
  readonly chainPem: string;
  /** The shared leaf key, unencrypted PKCS#8. */
  readonly keyPem: string;
  readonly secureContext: SecureContext;
  /** Uppercase hex, as X509Certificate and OpenSSL print it. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type LeafEvent =
  | { type: 'issued'; host: string; ms: number }
  | { type: 'store-hit'; host: string }
  | { type: 'store-discarded'; host: string; reason: string }
  | { type: 'store-error'; host: string; op: 'get' | 'set'; error: unknown }
  | { type: 'leaf-key'; status: 'created' | 'loaded' | 'replaced'; reason?: string };

export interface LeafFactoryStats {
  issued: number;
  memoryHits: number;
  storeHits: number;
  storeDiscarded: number;
  /** Requests that joined an issuance already in flight for the same host. */
  coalesced: number;
  storeErrors: number;
  /** Issuances under way now (a gauge, not a counter). */
  issuing: number;
  /** Leaves held in memory now (at most maxEntries). */
  cached?: number;
  /** Leaves in the store now, when the store keeps count (a bounded disk store). */
  stored?: number;
}

export interface LeafFactoryOptions extends LeafSignerOptions {
  ca: CertificateAuthority;
  leafKey: LeafKey;
  /** Persistent cache surviving restarts; none by default. */
  store?: CertStore;
  /** Leaves (with their SecureContext) kept in memory; default 1000. */
  maxEntries?: number;
  /** Reissue when less than this much validity is left; default 7 days. */
  renewBeforeMs?: number;
  /** Extra options for every SecureContext (minVersion, ciphers...). */
  secureContextOptions?: Omit<SecureContextOptions, 'key' | 'cert' | 'pfx' | 'passphrase'>;
  /** Clock in ms, for tests. */
  now?: () => number;
  /** Called for issuances and cache findings, for the server log. Must not throw. */
  onEvent?: (event: LeafEvent) => void;
  /** Build and sign certificates in a worker thread (default true). */
  offThread?: boolean;
}

export interface CreateLeafFactoryOptions extends Omit<LeafFactoryOptions, 'leafKey'> {
  /** Folder for the shared leaf key (leaf-key.pem) and, unless `store` is given, hosts/<host>.pem. */
  cacheDir?: string;
  /** Bound on the files in <cacheDir>/hosts (least recently used deleted first); none by default. */
  storeMaxEntries?: number;
  /** Use this key instead of loading or generating one. */
  leafKey?: LeafKey;
}

interface Entry {
  readonly leaf: IssuedLeaf;
  readonly renewAt: number;
}

/**
 * Issues and caches one leaf certificate per host, signed by the CA. Lookups go memory →
 * store → issue; concurrent requests for a host that is being issued share that issuance.
 */
export class LeafFactory {
  readonly #ca: CertificateAuthority;
  readonly #leafKey: LeafKey;
  readonly #signer: Signer;
  readonly #store: CertStore | undefined;
  readonly #memory: LRUCache<string, Entry>;
  readonly #inflight = new Map<string, Promise<IssuedLeaf>>();
  readonly #writes = new Set<Promise<void>>();
  readonly #renewBeforeMs: number;
  readonly #contextOptions: LeafFactoryOptions['secureContextOptions'];
  readonly #now: () => number;
  readonly #onEvent: (event: LeafEvent) => void;
  readonly #stats: Omit<LeafFactoryStats, 'issuing' | 'cached' | 'stored'> = { issued: 0, memoryHits: 0, storeHits: 0, storeDiscarded: 0, coalesced: 0, storeErrors: 0 };

  /** Load the leaf key from `cacheDir` (or generate one), then build the factory. */
  static async create(options: CreateLeafFactoryOptions): Promise<LeafFactory> {
    let leafKey = options.leafKey;
    if (!leafKey && options.cacheDir) {
      const loaded = await loadOrCreateLeafKey(join(options.cacheDir, LEAF_KEY_FILE));
      options.onEvent?.({ type: 'leaf-key', status: loaded.status, ...(loaded.reason ? { reason: loaded.reason } : {}) });
      leafKey = loaded.key;
    }
    leafKey ??= await generateLeafKey();
    const store = options.store ?? (options.cacheDir ? new DiskCertStore(join(options.cacheDir, LEAF_HOSTS_DIR), options.storeMaxEntries) : undefined);
    return new LeafFactory({ ...options, leafKey, store });
  }

  constructor(options: LeafFactoryOptions) {
    this.#ca = options.ca;
    this.#leafKey = options.leafKey;
    // Off the event loop by default (offThread: false keeps it in this thread).
    const signing: LeafSignerOptions = { validityDays: options.validityDays, backdateMs: options.backdateMs, organization: options.organization };
    this.#signer = options.offThread === false ? new LeafSigner(options.ca, options.leafKey, signing) : new OffThreadSigner(options.ca, options.leafKey, signing);
    this.#store = options.store;
    this.#memory = new LRUCache({ max: options.maxEntries ?? 1000 });
    this.#renewBeforeMs = options.renewBeforeMs ?? 7 * 86_400_000;
    this.#contextOptions = options.secureContextOptions;
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent ?? (() => undefined);
  }

  /** The leaf for a host name or IP literal; rejects with TlsError INVALID_HOST for bad names. */
  async get(hostName: string): Promise<IssuedLeaf> {
    const host = normalizeHost(hostName);
    const hit = this.#fresh(host.name);
    if (hit) {
      this.#stats.memoryHits++;
      return hit;
    }
    const pending = this.#inflight.get(host.name);
    if (pending) {
      this.#stats.coalesced++;
      return pending;
    }
    const created = this.#produce(host).finally(() => this.#inflight.delete(host.name));
    this.#inflight.set(host.name, created);
    return created;
  }

  /** A fresh leaf already in memory, synchronously (an SNICallback fast path), else undefined. */
  peek(hostName: string): IssuedLeaf | undefined {
    try {
      return this.#fresh(normalizeHost(hostName).name);
    } catch {
      return undefined;
    }
  }

  /** Forget one host's leaf, or all of them, in memory and in the store. An issuance already in flight still completes. */
  async purge(hostName?: string): Promise<void> {
    await this.flush();
    if (hostName === undefined) {
      this.#memory.clear();
      await this.#store?.clear();
      return;
    }
    const host = normalizeHost(hostName);
    this.#memory.delete(host.name);
    await this.#store?.delete(host);
  }

  /** Wait for issuances under way and their background store writes (before shutdown, or in tests). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()]);
    await Promise.all([...this.#writes]);
  }

  get stats(): Readonly<LeafFactoryStats> {
    const stored = this.#store?.size;
    return { ...this.#stats, issuing: this.#inflight.size, cached: this.#memory.size, ...(stored !== undefined ? { stored } : {}) };
  }

  /** How many leaves are held in memory. */
  get size(): number {
    return this.#memory.size;
  }

  #fresh(name: string): IssuedLeaf | undefined {
    const entry = this.#memory.get(name);
    if (!entry) return undefined;
    if (entry.renewAt > this.#now()) return entry.leaf;
    this.#memory.delete(name);
    return undefined;
  }

  async #produce(host: NormalizedHost): Promise<IssuedLeaf> {
    const now = this.#now();
    const stored = await this.#fromStore(host, now);
    if (stored) {
      this.#stats.storeHits++;
      this.#onEvent({ type: 'store-hit', host: host.name });
      return this.#remember(host, stored.toString(), stored.serialNumber, stored.validFrom, stored.validTo);
    }
    const started = performance.now();
    const cert = await this.#signer.issue(host, now);
    const leaf = this.#remember(host, cert.pem, cert.serialHex.toUpperCase(), cert.notBefore, cert.notAfter);
    this.#stats.issued++;
    this.#onEvent({ type: 'issued', host: host.name, ms: performance.now() - started });
    if (this.#store) this.#persist(this.#store, host, cert.pem);
    return leaf;
  }

  #remember(host: NormalizedHost, certPem: string, serial: string, from: Date | string, to: Date | string): IssuedLeaf {
    const chainPem = certPem + this.#ca.chainPem;
    const leaf: IssuedLeaf = {
      host: host.name,
      kind: host.kind,
      certPem,
      chainPem,
      keyPem: this.#leafKey.keyPem,
      // Built once per leaf and cached with it: creating a context parses key and chain.
      secureContext: createSecureContext({ ...this.#contextOptions, key: this.#leafKey.keyPem, cert: chainPem }),
      serialNumber: serial,
      notBefore: new Date(from),
      notAfter: new Date(to),
    };
    this.#memory.set(host.name, { leaf, renewAt: this.#renewAt(leaf.notBefore.getTime(), leaf.notAfter.getTime()) });
    return leaf;
  }

  #renewAt(notBefore: number, notAfter: number): number {
    // Half the lifetime at most, so a short leaf (clamped to an expiring CA) is still used a while.
    return notAfter - Math.min(this.#renewBeforeMs, (notAfter - notBefore) / 2);
  }

  /** A stored certificate that is valid for this host, CA, key and time; anything else is discarded. */
  async #fromStore(host: NormalizedHost, now: number): Promise<X509Certificate | undefined> {
    if (!this.#store) return undefined;
    let pem: string | undefined;
    try {
      pem = await this.#store.get(host);
    } catch (error) {
      this.#stats.storeErrors++;
      this.#onEvent({ type: 'store-error', host: host.name, op: 'get', error });
      return undefined;
    }
    if (pem === undefined) return undefined;
    const verdict = this.#check(pem, host, now);
    if (typeof verdict !== 'string') return verdict;
    // Not deleted here: the reissued certificate replaces the file atomically.
    this.#stats.storeDiscarded++;
    this.#onEvent({ type: 'store-discarded', host: host.name, reason: verdict });
    return undefined;
  }

  #check(pem: string, host: NormalizedHost, now: number): X509Certificate | string {
    // Decoding base64 here and handing OpenSSL DER is cheaper than its PEM reader.
    const base64 = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
    let cert: X509Certificate;
    try {
      if (base64 === undefined) return 'unparsable';
      cert = new X509Certificate(Buffer.from(base64, 'base64'));
    } catch {
      return 'unparsable';
    }
    if (!cert.checkIssued(this.#ca.cert) || !cert.verify(this.#ca.cert.publicKey)) return 'not issued by the current CA';
    // Compared as DER bytes: exporting cert.publicKey through OpenSSL costs ~0.2 ms.
    const spki = readCertFields(cert.raw)?.subjectPublicKeyInfo;
    if (!spki?.equals(this.#leafKey.spkiDer)) return 'issued for another leaf key';
    const matches =
      host.kind === 'dns' ? cert.checkHost(host.name, { subject: 'never', wildcards: false }) : cert.checkIP(host.name);
    if (!matches) return 'issued for another host';
    const notBefore = Date.parse(cert.validFrom);
    if (!(notBefore <= now)) return 'not yet valid';
    if (!(this.#renewAt(notBefore, Date.parse(cert.validTo)) > now)) return 'expired or due for renewal';
    return cert;
  }

  #persist(store: CertStore, host: NormalizedHost, pem: string): void {
    const write: Promise<void> = store
      .set(host, pem)
      .catch((error: unknown) => {
        this.#stats.storeErrors++;
        this.#onEvent({ type: 'store-error', host: host.name, op: 'set', error });
      })
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }
}
