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
  const config = src.validate(configSchema);
  const problems = semanticProblems(config, src);
  if (problems.length) throw new ConfigError(problems);
  const base = dirname(abs);
  const rel = (p: string): string => (STREAMS.has(p) || isAbsolute(p) ? p : resolve(base, p));
  config.log.access = rel(config.log.access);
  config.log.server = rel(config.log.server);
  return { file: abs, config: deepFreeze(config) };
}

/** Rules the schema cannot express. */
function semanticProblems(config: Config, src: YamlSource): Problem[] {
  const out: Problem[] = [];
  const loopback = new CidrSet(['127.0.0.0/8', '::1/128']);
  // No open proxy by accident: a listener reachable from the network needs a client restriction.
  config.listeners.forEach((l, i) => {
    const addr = l.address.replace(/^\[|\]$/g, '');
    if (!loopback.has(addr) && config.clients.allow.length === 0) {
      out.push(
        src.problemAt(
          ['listeners', i, 'address'],
          `listener on ${l.address} is reachable from the network but clients.allow is empty: list the client CIDRs that may use the proxy`,
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

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
