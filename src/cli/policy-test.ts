import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { ProxyError } from '../http/errors.js';
import { parseAbsoluteTarget, parseAuthority } from '../http/target.js';
import { explain, formatExplanation, loadPolicy, type RequestFacts } from '../policy/index.js';

export const POLICY_TEST_HELP = `Usage: egressd policy test [options] URL|host:port

Show the decision the policy takes for a request, the rule that matched, and why
each earlier rule did not. A URL (http:// or https://) is a request with a path;
host:port is a CONNECT tunnel whose path is unknown (not intercepted).

Options:
  -c, --config FILE    config naming the policy files (default: the shipped one)
  -u, --user USER      authenticated user
  -g, --group GROUP    a group of the user (repeatable)
  -s, --src IP         client address (default 127.0.0.1)
  -m, --method METHOD  request method (default GET; CONNECT for host:port)
  -H, --header 'Name: value'   a request header (repeatable)
      --dest-ip IP     destination address, for rules with "destinations"
      --time ISO       evaluate schedules at this time (default: now)
  -h, --help           this help

Exit status: 0 allow, 1 deny, 2 usage or config error, 3 undecided: a rule needs
the destination address (pass --dest-ip).`;

function factsFor(target: string, values: Record<string, unknown>): RequestFacts {
  const headers: Record<string, string> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new ProxyError('BAD_REQUEST', `header must be "Name: value": ${h}`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  for (const [opt, v] of [['--src', values.src], ['--dest-ip', values['dest-ip']]] as const) {
    if (v !== undefined && isIP(v as string) === 0) throw new ProxyError('BAD_REQUEST', `${opt} must be an IP address: ${String(v)}`);
  }
  if (values.time !== undefined && Number.isNaN(new Date(values.time as string).getTime())) {
    throw new ProxyError('BAD_REQUEST', `--time must be an ISO date and time, e.g. 2026-11-24T09:30:00Z: ${String(values.time)}`);
  }
  const common = {
    clientIp: (values.src as string | undefined) ?? '127.0.0.1',
    user: values.user as string | undefined,
    groups: values.group as string[] | undefined,
    headers,
    destIp: values['dest-ip'] as string | undefined,
    time: values.time ? new Date(values.time as string) : undefined,
  };
  if (/^https:\/\//i.test(target)) {
    // An intercepted request: parse as http, then restore the scheme and port.
    const t = parseAbsoluteTarget(target.replace(/^https:/i, 'http:'));
    const port = /^https:\/\/[^/]*:\d+/i.test(target) ? t.port : 443;
    return { ...common, host: t.host, port, scheme: 'https', method: (values.method as string | undefined) ?? 'GET', path: t.path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const t = parseAbsoluteTarget(target);
    return { ...common, host: t.host, port: t.port, scheme: 'http', method: (values.method as string | undefined) ?? 'GET', path: t.path };
  }
  const { host, port } = parseAuthority(target);
  return { ...common, host, port, scheme: 'https', method: 'CONNECT' };
}

export async function policyTestCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        user: { type: 'string', short: 'u' },
        group: { type: 'string', short: 'g', multiple: true },
        src: { type: 'string', short: 's' },
        method: { type: 'string', short: 'm' },
        header: { type: 'string', short: 'H', multiple: true },
        'dest-ip': { type: 'string' },
        time: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`egressd policy test: ${(err as Error).message}\n\n${POLICY_TEST_HELP}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${POLICY_TEST_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(`egressd policy test: give exactly one URL or host:port\n\n${POLICY_TEST_HELP}\n`);
    return 2;
  }
  try {
    const { config } = loadConfig(values.config);
    if (config.policy.files.length === 0) {
      process.stdout.write('no policy files configured: every request is allowed\n');
      return 0;
    }
    const policy = await loadPolicy(config.policy.files);
    const e = explain(policy, factsFor(positionals[0]!, values));
    process.stdout.write(`${formatExplanation(e)}\n`);
    if (e.verdict.action === 'needs-ip') {
      process.stderr.write('egressd policy test: undecided: a rule needs the destination address; pass --dest-ip\n');
      return 3;
    }
    return e.verdict.action === 'deny' ? 1 : 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 2;
    }
    if (err instanceof ProxyError) {
      process.stderr.write(`egressd policy test: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
