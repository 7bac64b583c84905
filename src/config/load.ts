import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CidrSet } from '../http/cidr.js';
import { configSchema, type Config } from './schema.js';
import { ConfigError, YamlSource, type Problem } from './yaml-source.js';

/** The shipped default config, used when no -c is given. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../policies/egressd.yaml', import.meta.url));

export interface LoadedConfig {
  /** Absolute path of the file it came from. */
  file: string;
  /** Validated, defaulted and frozen config; relative paths already resolved against the file's folder. */
  config: Readonly<Config>;
}

const STREAMS = new Set(['stdout', 'stderr']);

/** Read and validate a config file. Throws ConfigError with every problem found. */
export function loadConfig(file: string = DEFAULT_CONFIG_FILE): LoadedConfig {
  const abs = resolve(file);
  const src = YamlSource.read(abs);
  let config: Config | undefined;
  let problems: Problem[] = [];
  try {
    config = src.validate(configSchema);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  // Report every problem at once: the listener rules also run on a file that failed
  // the schema, over whatever parts of it are readable.
  problems.push(...listenerProblems(config ?? lenientView(src), src));
  if (problems.length || !config) throw new ConfigError(problems.sort((a, b) => a.line - b.line || a.col - b.col));
  const base = dirname(abs);
  const rel = (p: string): string => (STREAMS.has(p) || isAbsolute(p) ? p : resolve(base, p));
  config.log.access = rel(config.log.access);
  config.log.server = rel(config.log.server);
  config.policy.files = config.policy.files.map(rel);
  config.tls.ca.dir = rel(config.tls.ca.dir);
  if (config.cache.disk) config.cache.disk.dir = rel(config.cache.disk.dir);
  config.tls.upstreamCaFiles = config.tls.upstreamCaFiles.map(rel);
  if (config.quota.snapshot.file) config.quota.snapshot.file = rel(config.quota.snapshot.file);
  if (config.auth.users) config.auth.users = rel(config.auth.users);
  if (config.auth.groupsFile) config.auth.groupsFile = rel(config.auth.groupsFile);
  return { file: abs, config: deepFreeze(config) };
}

type ListenerView = Pick<Config, 'listeners'> & { clients: { allow: readonly string[] }; auth: { required: boolean } };

/** The listener-related parts of a document that failed validation, as far as they make sense. */
function lenientView(src: YamlSource): ListenerView {
  const raw = (src.doc.toJS() ?? {}) as { listeners?: unknown; clients?: { allow?: unknown }; auth?: { required?: unknown } };
  const listeners = Array.isArray(raw.listeners)
    ? raw.listeners.map((l: { address?: unknown; port?: unknown }) => ({
        address: typeof l?.address === 'string' && isIP(bare(l.address)) ? l.address : '127.0.0.1',
        port: typeof l?.port === 'number' ? l.port : 3128,
        mode: l && (l as { mode?: unknown }).mode === 'transparent' ? ('transparent' as const) : ('forward' as const),
        proxyProtocol: 'off' as const,
        proxyFrom: [],
      }))
    : [];
  const allow = Array.isArray(raw.clients?.allow) ? raw.clients.allow.filter((c): c is string => typeof c === 'string') : [];
  return { listeners, clients: { allow }, auth: { required: raw.auth?.required === true } };
}

function bare(a: string): string {
  return a.replace(/^\[|\]$/g, '');
}

/** Rules the schema cannot express. */
function listenerProblems(config: ListenerView, src: YamlSource): Problem[] {
  const out: Problem[] = [];
  const loopback = new CidrSet(['127.0.0.0/8', '::1/128']);
  // No open proxy by accident: a listener reachable from the network needs a client
  // restriction, or authentication for every request.
  config.listeners.forEach((l, i) => {
    const addr = bare(l.address);
    if (!loopback.has(addr) && config.clients.allow.length === 0 && !config.auth.required) {
      out.push(
        src.problemAt(
          ['listeners', i, 'address'],
          `listener on ${l.address} is reachable from the network but clients.allow is empty: list the client CIDRs that may use the proxy, or set auth.required: true`,
        ),
      );
    }
  });
  const seen = new Map<string, number>();
  config.listeners.forEach((l, i) => {
    const key = `${l.address}:${l.port}`;
    if (l.port !== 0 && seen.has(key)) out.push(src.problemAt(['listeners', i], `listener ${key} is declared twice`));
    seen.set(key, i);
  });
  return out;
}

/** Freeze an object and everything in it (a config is never changed once validated). */
export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
