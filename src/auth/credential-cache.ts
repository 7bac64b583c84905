import { hash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from './identity.js';

interface Entry {
  identity: Identity;
  /** The store's revision for the user when the password was checked. */
  revision: string | undefined;
}

/**
 * Verified credentials, so bcrypt (slow on purpose) runs once per credential per TTL
 * rather than once per request. Keyed by a salted SHA-256 of the whole header value:
 * the cache never holds a password, and the per-process salt means a memory dump's
 * keys cannot be matched against precomputed hashes. An entry is used only while the
 * store's revision for its user is unchanged (password change, removal, new groups).
 */
export class CredentialCache {
  private readonly salt = randomBytes(16).toString('base64');
  private readonly lru: LRUCache<string, Entry> | null;

  constructor(ttlMs: number, max: number) {
    this.lru = ttlMs > 0 && max > 0 ? new LRUCache<string, Entry>({ max, ttl: ttlMs, ttlAutopurge: false }) : null;
  }

  key(header: string): string {
    // One-shot hash: about half the cost of createHash().update().digest() per request.
    return hash('sha256', this.salt + header, 'base64');
  }

  /** The identity for a key, if cached and still current for `revisionOf(user)`. */
  get(key: string, revisionOf: (user: string) => string | undefined): Identity | undefined {
    const e = this.lru?.get(key);
    if (!e) return undefined;
    if (revisionOf(e.identity.user) !== e.revision) {
      this.lru!.delete(key);
      return undefined;
    }
    return e.identity;
  }

  set(key: string, identity: Identity, revision: string | undefined): void {
    this.lru?.set(key, { identity, revision });
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }
}
