import type { Identity } from './identity.js';

/**
 * Where credentials are checked. Implementations: a htpasswd file (FileUserStore) and
 * an LDAP directory (LdapUserStore); ChainStore asks the file first.
 */
export interface UserStore {
  /**
   * Check a password. Resolves the identity (with the groups the store knows), or null
   * for an unknown user or a wrong password — the two look alike to the client, so
   * user names cannot be probed. Rejects with AUTH_UNAVAILABLE when the backend cannot
   * answer (directory down), which must not count as a failed attempt.
   */
  verify(user: string, password: string): Promise<Identity | null>;
  /**
   * A token that changes whenever the user's password or groups change, and undefined
   * once the user is gone: a cached credential is used only while its token is current,
   * so a password change or removal takes effect at the next request.
   */
  revision(user: string): string | undefined;
  /** Whether this store is the one that decides for `user` (for chaining). */
  knows(user: string): boolean;
}

/** Ask `first` for the users it knows, `fallback` (if any) for the rest. */
export class ChainStore implements UserStore {
  constructor(
    private readonly first: UserStore,
    private readonly fallback: UserStore | null,
  ) {}

  verify(user: string, password: string): Promise<Identity | null> {
    if (this.first.knows(user) || !this.fallback) return this.first.verify(user, password);
    return this.fallback.verify(user, password);
  }

  revision(user: string): string | undefined {
    if (this.first.knows(user) || !this.fallback) return this.first.revision(user);
    return this.fallback.revision(user);
  }

  knows(user: string): boolean {
    return this.first.knows(user) || (this.fallback?.knows(user) ?? false);
  }
}
