import { ProxyError } from '../http/errors.js';
import { authRequired, parseBasic } from './basic.js';
import { CredentialCache } from './credential-cache.js';
import type { AuthLog, Identity } from './identity.js';
import { Lockout, type LockoutOptions } from './lockout.js';
import type { SourceIdentities } from './source-identities.js';
import type { UserStore } from './user-store.js';

export interface AuthenticatorOptions {
  realm: string;
  /** Verified credentials kept this long (ms); 0 disables the cache. */
  cacheTtl: number;
  cacheSize: number;
  /** Per user name. */
  lockout: LockoutOptions;
  /** Per client address: usually a higher threshold, since many users may share a NAT address. */
  addressLockout: LockoutOptions;
}

/**
 * Turns a request's Proxy-Authorization header and client address into an identity.
 * The usual case, a credential verified before, is answered synchronously from the
 * cache so the pipeline stays on its fast path; only a new credential waits for
 * bcrypt or the directory, and concurrent requests with the same new credential share
 * one check.
 *
 * Order: credentials present → verify them (they win over the address, so a person on
 * a mapped server can still log in as themselves); none → the address mapping; else
 * anonymous (null), and the policy stage decides whether that needs a challenge.
 */
export class Authenticator {
  private readonly cache: CredentialCache;
  private readonly lockout: Lockout;
  private readonly addressLockout: Lockout;
  private readonly pending = new Map<string, Promise<Identity>>();

  constructor(
    private readonly store: UserStore | null,
    private readonly sources: SourceIdentities,
    private readonly opts: AuthenticatorOptions,
    private readonly log: AuthLog,
    now: () => number = Date.now,
  ) {
    this.cache = new CredentialCache(opts.cacheTtl, opts.cacheSize);
    this.lockout = new Lockout(opts.lockout, now);
    this.addressLockout = new Lockout(opts.addressLockout, now);
  }

  get realm(): string {
    return this.opts.realm;
  }

  /** How much each table holds (each bounded by its configured size), for status and tests. */
  get sizes(): { credentials: number; lockedUsers: number; lockedAddresses: number; checking: number } {
    return { credentials: this.cache.size, lockedUsers: this.lockout.size, lockedAddresses: this.addressLockout.size, checking: this.pending.size };
  }

  /** The identity, null when anonymous, or a promise of either; throws AUTH_* ProxyErrors. */
  identify(header: string | undefined, clientIp: string): Identity | null | Promise<Identity> {
    if (header === undefined || header === '') return this.sources.lookup(clientIp) ?? null;
    const key = this.cache.key(header);
    const hit = this.store ? this.cache.get(key, (u) => this.store!.revision(u)) : undefined;
    if (hit) return hit;
    let creds;
    try {
      creds = parseBasic(header);
    } catch (err) {
      throw this.challenge((err as Error).message);
    }
    if (!creds) throw this.challenge('only the Basic scheme is supported for proxy authentication');
    if (!this.store) throw this.challenge('no users are configured on this proxy');
    const { user, password } = creds;
    const wait = Math.max(this.lockout.retryAfter(user), this.addressLockout.retryAfter(clientIp));
    if (wait > 0) throw this.locked(user, clientIp, wait);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    // Concurrent guesses wait for a running check to end, then are judged again (maybe locked by now).
    const busy = !this.lockout.mayCheck(user) ? this.lockout.settled(user) : !this.addressLockout.mayCheck(clientIp) ? this.addressLockout.settled(clientIp) : null;
    if (busy) return busy.then(() => this.identify(header, clientIp) as Identity | Promise<Identity>);
    const revision = this.store.revision(user);
    const doneUser = this.lockout.begin(user);
    const doneAddress = this.addressLockout.begin(clientIp);
    // Released after the outcome is recorded, so a waiting guess sees the new failure count.
    const release = (): void => {
      doneUser();
      doneAddress();
    };
    const p = this.store.verify(user, password).then(
      (id) => {
        this.pending.delete(key);
        if (!id) {
          try {
            return this.failed(user, clientIp);
          } finally {
            release();
          }
        }
        this.lockout.succeed(user);
        // The revision read before the check: a change meanwhile invalidates this entry.
        this.cache.set(key, id, revision ?? this.store!.revision(user));
        release();
        return id;
      },
      (err: unknown) => {
        this.pending.delete(key);
        release();
        throw err;
      },
    );
    this.pending.set(key, p);
    return p;
  }

  /** A wrong password or unknown user: count it, log it (never the password), refuse. */
  private failed(user: string, clientIp: string): never {
    const lock = Math.max(this.lockout.fail(user), this.addressLockout.fail(clientIp));
    const fields = { user, client: clientIp, failures: this.lockout.failures(user), ...(lock ? { lockedForMs: lock } : {}) };
    this.log.warn(fields, lock ? 'proxy authentication failed: locked out' : 'proxy authentication failed');
    throw this.challenge(`proxy authentication failed for user "${user}": wrong user name or password`);
  }

  private locked(user: string, clientIp: string, waitMs: number): ProxyError {
    const secs = Math.ceil(waitMs / 1000);
    this.log.warn({ user, client: clientIp, retryAfter: secs }, 'proxy authentication refused: too many failed attempts');
    // RFC 6585 §4: 429 with Retry-After (RFC 9110 §10.2.3, in seconds).
    return new ProxyError('AUTH_LOCKED', `too many failed authentication attempts for user "${user}" or from ${clientIp}: retry in ${secs} s`, {
      headers: { 'retry-after': String(secs) },
    });
  }

  challenge(reason: string): ProxyError {
    return authRequired(this.opts.realm, reason);
  }
}
