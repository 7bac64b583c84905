import type { Logger } from 'pino';
import type { Authenticator, FileUserStore } from '../auth/index.js';
import type { Config } from '../config/schema.js';
import type { AccessLog } from '../log/access-log.js';
import type { HeaderFields } from '../log/header-fields.js';
import type { Policy } from '../policy/index.js';
import type { HttpCache } from '../cache/index.js';
import type { Quotas } from '../quota/index.js';
import type { CaDownload } from './local-pages.js';
import type { Dialer } from '../upstream/dialer.js';
import type { Upstream } from '../upstream/router.js';
import type { IdGenerator } from './context.js';

/**
 * Everything a request needs, built from one config generation. A reload builds a new
 * Runtime and swaps it in; requests in flight keep the one they started with.
 */
export interface Runtime {
  readonly config: Readonly<Config>;
  readonly generation: number;
  readonly dialer: Dialer;
  /** Direct pool and parent groups: where requests and tunnels leave. */
  readonly upstream: Upstream;
  readonly accessLog: AccessLog;
  readonly log: Logger;
  readonly ids: IdGenerator;
  /** "1.1 egressd", or null when Via is disabled. */
  readonly via: string | null;
  readonly connectPorts: ReadonlySet<number>;
  /** Compiled allow/deny rules; null when the config names no policy file (allow all). */
  readonly policy: Policy | null;
  /** Quotas (shared by every generation: counters survive reloads); null when no profile is configured. */
  readonly quota: Quotas | null;
  /** The interception CA for download, when interception is set up. */
  readonly ca: CaDownload | null;
  /** The shared HTTP cache; null when cache.enabled is false. */
  readonly cache: HttpCache | null;
  /** Who is asking (Basic, LDAP, source addresses); null when auth is not configured. */
  readonly auth: Authenticator | null;
  /** The users/groups files behind `auth`, reloaded by the server when they change. */
  readonly userFiles: FileUserStore | null;
  /** Header fields log.headers chose for the access log; null when none. */
  readonly logHeaders: HeaderFields | null;
}
