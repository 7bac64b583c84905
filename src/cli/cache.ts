import { parseArgs } from 'node:util';

export const CACHE_HELP = `Usage: egressd cache purge URL|--host GLOB [options]
       egressd cache stats [options]

Talk to a running egressd's admin API (admin.listen in the config) about its cache.

Commands:
  purge URL          remove every stored variant of URL (absolute http(s) URL)
  purge --host GLOB  remove every stored URL whose host matches GLOB
                     (example.com, *.example.com, .example.com, globs)
  stats              entries, bytes, hits, misses and the hit ratio, as JSON

Options:
  -c, --config FILE  config file whose admin.listen and admin.token are used
                     (default: the shipped policies/egressd.yaml)
      --admin URL    the admin API base URL instead, e.g. http://127.0.0.1:3129
      --token TOKEN  bearer token (default: admin.token, or $EGRESSD_ADMIN_TOKEN)
  -h, --help         this help

Exit status: 0 ok, 1 the API refused or could not be reached, 2 usage or config error.`;

interface Values {
  config?: string;
  admin?: string;
  token?: string;
  host?: string;
  help?: boolean;
}

function usage(msg: string): number {
  process.stderr.write(`egressd cache: ${msg}\n\n${CACHE_HELP}\n`);
  return 2;
}

export async function cacheCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${CACHE_HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'purge' && sub !== 'stats') return usage(`unknown command "${sub}"`);
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: {
        config: { type: 'string', short: 'c' },
        admin: { type: 'string' },
        token: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }) as { values: Values; positionals: string[] });
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${CACHE_HELP}\n`);
    return 0;
  }
  let body: Record<string, string> | null = null;
  if (sub === 'purge') {
    if (values.host !== undefined && positionals.length) return usage('give a URL or --host GLOB, not both');
    if (values.host !== undefined) body = { host: values.host };
    else if (positionals.length === 1) body = { url: positionals[0]! };
    else return usage('purge needs one URL or --host GLOB');
  } else if (positionals.length || values.host !== undefined) {
    return usage('stats takes no arguments');
  }
  let base = values.admin;
  let token = values.token ?? process.env.EGRESSD_ADMIN_TOKEN;
  if (base === undefined) {
    const [{ loadConfig }, { ConfigError, formatProblem }] = await Promise.all([import('../config/load.js'), import('../config/yaml-source.js')]);
    try {
      const { config } = loadConfig(values.config);
      const l = config.admin.listen;
      if (!l || l.port === 0) return usage('the config has no admin listener with a fixed port (admin.listen); pass --admin URL');
      const host = l.address === '0.0.0.0' ? '127.0.0.1' : l.address === '::' ? '[::1]' : l.address.includes(':') ? `[${l.address.replace(/^\[|\]$/g, '')}]` : l.address;
      base = `http://${host}:${l.port}`;
      token ??= config.admin.token || undefined;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 2;
    }
  }
  const { request } = await import('undici');
  const path = sub === 'purge' ? '/api/cache/purge' : '/api/cache/stats';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) headers['content-type'] = 'application/json';
  try {
    const res = await request(new URL(path, base), {
      method: body ? 'POST' : 'GET',
      headers,
      body: body ? JSON.stringify(body) : undefined,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      let message = text.trim();
      try {
        const j = JSON.parse(text) as { error?: string; message?: string };
        message = `${j.message ?? text.trim()} [${j.error ?? res.statusCode}]`;
      } catch {
        // not JSON: print as it came
      }
      process.stderr.write(`egressd cache ${sub}: ${res.statusCode}: ${message}\n`);
      return 1;
    }
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`egressd cache ${sub}: cannot reach the admin API at ${base}: ${e.code ?? e.message}\n`);
    return 1;
  }
}
