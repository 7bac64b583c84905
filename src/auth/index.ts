export { Authenticator, type AuthenticatorOptions } from './authenticator.js';
export { authRequired, basicChallenge, parseBasic } from './basic.js';
export { FileUserStore, type FileStoreOptions } from './file-store.js';
export { formatHtpasswd, isBcrypt, parseHtpasswd, userNameProblem } from './htpasswd.js';
export { AuthFileError, type AuthFileProblem, type AuthLog, type Identity } from './identity.js';
export { LdapUserStore, type LdapOptions } from './ldap-store.js';
export { SourceIdentities, type SourceIdentityRule } from './source-identities.js';
export { ChainStore, type UserStore } from './user-store.js';
export { IN_THREAD, OffThreadPasswordCheck, type PasswordCheck } from './password-check.js';
