import type { Logger } from 'pino';
import { Authenticator, ChainStore, FileUserStore, LdapUserStore, SourceIdentities, type PasswordCheck, type UserStore } from '../auth/index.js';
import type { Config } from '../config/schema.js';

/**
 * The auth components for one config generation: the users/groups files, LDAP behind
 * them, the source-address map, and the authenticator with its credential cache and
 * lockout. Nothing when the config has no auth at all. Throws AuthFileError when a
 * users or groups file is unreadable or invalid.
 */
export function buildAuth(config: Readonly<Config>, log: Logger, passwords?: PasswordCheck): { auth: Authenticator | null; userFiles: FileUserStore | null } {
  const a = config.auth;
  if (!a.users && !a.groupsFile && !a.ldap && a.sources.length === 0 && Object.keys(a.groups).length === 0) {
    return { auth: null, userFiles: null };
  }
  const files = new FileUserStore({ usersFile: a.users ?? null, groupsFile: a.groupsFile ?? null, groups: a.groups, passwords });
  const ldap = a.ldap ? new LdapUserStore(a.ldap, (u) => files.groupsOf(u), log) : null;
  const store: UserStore | null = a.users ? new ChainStore(files, ldap) : ldap;
  const sources = new SourceIdentities(a.sources, (u) => files.groupsOf(u), () => files.generation);
  const auth = new Authenticator(store, sources, { realm: a.realm, cacheTtl: a.cacheTtl, cacheSize: a.cacheSize, lockout: { ...a.lockout, maxKeys: a.lockout.maxTracked }, addressLockout: { ...a.lockout, threshold: a.lockout.addressThreshold, maxKeys: a.lockout.maxTracked } }, log);
  return { auth, userFiles: files };
}
