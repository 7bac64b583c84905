import type { Client } from 'ldapts';
import { ProxyError } from '../http/errors.js';
import type { AuthLog, Identity } from './identity.js';
import type { UserStore } from './user-store.js';

export interface LdapOptions {
  /** ldap://host:port or ldaps://host:port. */
  url: string;
  /** DN template with {user}, e.g. "uid={user},ou=people,dc=example,dc=org": bind directly. */
  userDn?: string;
  /** Otherwise search-then-bind: the service account and where to look. */
  bindDn?: string;
  /** Environment variable holding the service account's password. */
  bindPasswordEnv?: string;
  searchBase?: string;
  /** Filter with {user}, e.g. "(uid={user})". */
  searchFilter: string;
  /** Optional group lookup: groups whose `filter` matches the user; names from `attribute`. */
  groups?: { base: string; filter: string; attribute: string };
  /** Per operation and for the TCP connect (ms). */
  timeout: number;
}

/** RFC 4515 §3: escape a value placed inside a search filter. */
export function escapeFilterValue(v: string): string {
  return v.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** RFC 4514 §2.4: escape a value placed in a DN attribute value. */
export function escapeDnValue(v: string): string {
  return v
    .replace(/[\\,+"<>;=\0]/g, (c) => (c === '\0' ? '\\00' : `\\${c}`))
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ');
}

type Ldapts = typeof import('ldapts');
let ldapts: Promise<Ldapts> | null = null;
/** ldapts is loaded at the first LDAP login: a proxy without LDAP never holds it in memory. */
function ldapLib(): Promise<Ldapts> {
  return (ldapts ??= import('ldapts'));
}

/**
 * Users checked by binding as them against a directory (ldapts): with a DN template,
 * or by searching their DN with a service account first. Groups optionally by search
 * (groupOfNames `member={dn}`, posixGroup `memberUid={user}`), plus the static groups
 * from the config. A directory that cannot be reached is AUTH_UNAVAILABLE (503), not a
 * wrong password: the client must not be told to re-enter it, and it is no failed
 * attempt for lockout.
 */
export class LdapUserStore implements UserStore {
  constructor(
    private readonly opts: LdapOptions,
    private readonly staticGroups: (user: string) => readonly string[],
    private readonly log: AuthLog,
  ) {}

  knows(): boolean {
    return true;
  }

  revision(user: string): string {
    // Directory changes are seen when the cache entry expires (auth.cacheTtl).
    return `ldap|${this.staticGroups(user).join(',')}`;
  }

  async verify(user: string, password: string): Promise<Identity | null> {
    // RFC 4513 §5.1.2: a bind with a DN and an empty password is an "unauthenticated"
    // bind that many servers accept — it must never count as a login.
    if (password === '') return null;
    const lib = await ldapLib();
    const service = this.opts.userDn ? null : this.client(lib);
    try {
      if (service && this.opts.bindDn) await service.bind(this.opts.bindDn, this.servicePassword());
      const dn = service ? await this.findDn(service, user) : this.opts.userDn!.replaceAll('{user}', escapeDnValue(user));
      if (dn === null) return null;
      const userClient = this.client(lib);
      try {
        await userClient.bind(dn, password);
      } catch (err) {
        if (err instanceof lib.InvalidCredentialsError) return null;
        throw err;
      }
      try {
        const found = this.opts.groups ? await this.groupsOf(service ?? userClient, user, dn) : [];
        const groups = [...new Set([...this.staticGroups(user), ...found])].sort();
        return { user, groups: Object.freeze(groups), via: 'ldap' };
      } finally {
        await userClient.unbind().catch(() => {});
      }
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      const e = err as { code?: unknown; message?: string };
      this.log.error({ ldap: this.opts.url, err: String(e.message ?? err) }, 'LDAP directory unavailable: authentication cannot be checked');
      throw new ProxyError('AUTH_UNAVAILABLE', `the user directory (${this.opts.url}) cannot be reached: authentication is unavailable`, { cause: err });
    } finally {
      await service?.unbind().catch(() => {});
    }
  }

  private client(lib: Ldapts): Client {
    return new lib.Client({ url: this.opts.url, timeout: this.opts.timeout, connectTimeout: this.opts.timeout, strictDN: false });
  }

  private servicePassword(): string {
    const env = this.opts.bindPasswordEnv;
    const pw = env ? process.env[env] : undefined;
    if (pw === undefined) throw new ProxyError('AUTH_UNAVAILABLE', `the LDAP service account password is not set (environment variable ${env ?? '(none)'})`);
    return pw;
  }

  /** Search-then-bind: the user's DN, or null when no single entry matches. */
  private async findDn(client: Client, user: string): Promise<string | null> {
    const filter = this.opts.searchFilter.replaceAll('{user}', escapeFilterValue(user));
    const { searchEntries } = await client.search(this.opts.searchBase ?? '', { scope: 'sub', filter, attributes: ['dn'], sizeLimit: 2 });
    return searchEntries.length === 1 ? searchEntries[0]!.dn : null;
  }

  private async groupsOf(client: Client, user: string, dn: string): Promise<string[]> {
    const g = this.opts.groups!;
    const filter = g.filter.replaceAll('{user}', escapeFilterValue(user)).replaceAll('{dn}', escapeFilterValue(dn));
    const { searchEntries } = await client.search(g.base, { scope: 'sub', filter, attributes: [g.attribute] });
    const out: string[] = [];
    for (const e of searchEntries) {
      const v = e[g.attribute];
      for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined) out.push(String(x));
    }
    return out;
  }
}
