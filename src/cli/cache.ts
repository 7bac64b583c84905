import { parseArgs } from 'node:util';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, adminRequest, resolveAdmin } from './admin-client.js';

export const CACHE_HELP = `Usage: egressd cache purge URL|--host GLOB [options]
       egressd cache stats [options]

Talk to a running egressd's admin API (admin.listen in the config) about its cache.

Commands:
  purge URL          remove every stored variant of URL (absolute http(s) URL)
  purge --host GLOB  remove every stored URL whose host matches GLOB
                     (example.com, *.example.com, .example.com, globs)
  stats              entries, bytes, hits, misses and the hit ratio, as JSON

Options:
${ADMIN_OPTIONS_HELP}
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
        ...ADMIN_OPTIONS,
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
  const target = await resolveAdmin(values);
  if (target === null) return 2;
  if (typeof target === 'string') return usage(target);
  const reply = await adminRequest(target, sub === 'purge' ? '/api/cache/purge' : '/api/cache/stats', body ?? undefined);
  if (!reply.ok) {
    process.stderr.write(`egressd cache ${sub}: ${reply.message}\n`);
    return 1;
  }
  process.stdout.write(reply.text.endsWith('\n') ? reply.text : `${reply.text}\n`);
  return 0;
}
