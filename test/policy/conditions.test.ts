import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { explain } from '../../src/policy/explain.js';
import type { RequestFacts } from '../../src/policy/types.js';
import { connect, facts, loadFixtures } from './helpers.js';

const policy = await loadFixtures('conditions.yaml');

type Case = [name: string, facts: RequestFacts, expected: string | { action: string; ruleId?: string }];
const ua = (v: string | string[]) => ({ 'user-agent': v });

const cases: Case[] = [
  // users: case-insensitive; anonymous never matches
  ['user listed', facts({ host: 'users.test', user: 'alice' }), 'users'],
  ['user case-insensitive', facts({ host: 'users.test', user: 'BOB' }), 'users'],
  ['user not listed', facts({ host: 'users.test', user: 'mallory' }), 'default'],
  ['no user', facts({ host: 'users.test' }), 'default'],
  // groups: any of the user's groups
  ['group listed', facts({ host: 'groups.test', groups: ['staff', 'contractors'] }), 'groups'],
  ['group not listed', facts({ host: 'groups.test', groups: ['staff'] }), 'default'],
  ['no groups', facts({ host: 'groups.test' }), 'default'],
  // sources: client CIDRs, IPv4-mapped IPv6 as IPv4
  ['source in /8', facts({ host: 'sources.test', clientIp: '10.200.0.1' }), 'sources'],
  ['source mapped', facts({ host: 'sources.test', clientIp: '::ffff:10.1.2.3' }), 'sources'],
  ['source v6', facts({ host: 'sources.test', clientIp: 'fd12::1' }), 'sources'],
  ['source single ip', facts({ host: 'sources.test', clientIp: '192.0.2.7' }), 'sources'],
  ['source outside', facts({ host: 'sources.test', clientIp: '192.0.2.8' }), 'default'],
  // domain lists: file and inline, entry matches itself and subdomains
  ['list entry', facts({ host: 'ads.example' }), { action: 'deny', ruleId: 'lists' }],
  ['list subdomain', facts({ host: 'x.y.ads.example' }), 'lists'],
  ['list entry normalised', facts({ host: 'tracker.example' }), 'lists'],
  ['list entry with *.', facts({ host: 'wildcard-entry.example' }), 'lists'],
  ['list entry with .', facts({ host: 'a.dotted-entry.example' }), 'lists'],
  ['list IDN entry', facts({ host: 'xn--bcher-ads-q9a.example' }), 'lists'],
  ['list IDN entry, Unicode host', facts({ host: 'www.bücher-ads.example' }), 'lists'],
  ['list IP entry', facts({ host: '10.9.8.7' }), 'lists'],
  ['list IP is exact', facts({ host: '10.9.8.77' }), 'default'],
  ['list lookalike', facts({ host: 'notads.example' }), 'default'],
  ['inline list', facts({ host: 'inline.example' }), 'lists'],
  ['inline list sub', facts({ host: 'a.wild.example' }), 'lists'],
  ['list via CONNECT', connect('ads.example'), 'lists'],
  // destinations: by the resolved address; literal hosts count as resolved
  ['dest in range', facts({ host: 'dest.test', destIp: '203.0.113.9' }), 'destinations'],
  ['dest v6', facts({ host: 'dest.test', destIp: '2001:db8:dead:1::1' }), 'destinations'],
  ['dest outside', facts({ host: 'dest.test', destIp: '198.51.100.1' }), 'default'],
  ['dest unknown', facts({ host: 'dest.test' }), { action: 'needs-ip', ruleId: 'destinations' }],
  // ports: list and ranges
  ['port listed', facts({ host: 'ports.test', port: 8080 }), 'ports'],
  ['port in range', facts({ host: 'ports.test', port: 9005 }), 'ports'],
  ['port range end', facts({ host: 'ports.test', port: 9009 }), 'ports'],
  ['port outside', facts({ host: 'ports.test', port: 9010 }), 'default'],
  // schemes
  ['scheme http', facts({ host: 'schemes.test' }), 'schemes'],
  ['scheme https', facts({ host: 'schemes.test', scheme: 'https', port: 443 }), 'default'],
  // methods: written in any case in the file, compared as sent (uppercase)
  ['method POST', facts({ host: 'methods.test', method: 'POST' }), 'methods'],
  ['method PUT', facts({ host: 'methods.test', method: 'PUT' }), 'methods'],
  ['method GET', facts({ host: 'methods.test' }), 'default'],
  ['method CONNECT', connect('methods.test'), 'default'],
  // paths: globs, query ignored, normalised against bypasses
  ['path under /admin', facts({ host: 'paths.test', path: '/admin/users' }), 'paths'],
  ['path deep', facts({ host: 'paths.test', path: '/admin/a/b/c?x=1' }), 'paths'],
  ['path exe anywhere', facts({ host: 'paths.test', path: '/files/setup.exe?download=1' }), 'paths'],
  ['path dotfile', facts({ host: 'paths.test', path: '/admin/.env' }), 'paths'],
  ['path %-encoded', facts({ host: 'paths.test', path: '/%61dmin/x' }), 'paths'],
  ['path dot segments', facts({ host: 'paths.test', path: '/public/../admin/x' }), 'paths'],
  ['path double slash', facts({ host: 'paths.test', path: '//admin//x' }), 'paths'],
  ['path case-sensitive', facts({ host: 'paths.test', path: '/Admin/x' }), 'default'],
  ['path /admin itself', facts({ host: 'paths.test', path: '/admin' }), 'default'],
  ['path in query only', facts({ host: 'paths.test', path: '/?next=/admin/x' }), 'default'],
  ['path unknown, skip (default)', connect('paths.test'), 'default'],
  ['path unknown, match', connect('paths-match.test'), 'paths-match-unknown'],
  ['path known, match rule', facts({ host: 'paths-match.test', path: '/public' }), 'default'],
  // headers: every header listed must match; values are globs or regexes
  ['headers both', facts({ host: 'headers.test', headers: { ...ua('curl/8.5.0'), 'x-team': 'blue' } }), 'headers'],
  ['headers glob case', facts({ host: 'headers.test', headers: { ...ua('WGET/1.21'), 'x-team': 'RED' } }), 'headers'],
  ['headers one missing', facts({ host: 'headers.test', headers: ua('curl/8.5.0') }), 'default'],
  ['headers regex fails', facts({ host: 'headers.test', headers: { ...ua('curl/8'), 'x-team': 'green' } }), 'default'],
  ['headers multi-value', facts({ host: 'headers.test', headers: { ...ua(['Mozilla/5.0', 'curl/1']), 'x-team': 'red' } }), 'headers'],
  ['header glob spans /', facts({ host: 'ua.test', headers: ua('Mozilla/5.0 (X11; Linux x86_64) Firefox/120') }), 'header-glob-slash'],
  ['header glob miss', facts({ host: 'ua.test', headers: ua('Mozilla/5.0 (Windows NT 10.0)') }), 'default'],
  // AND of several conditions
  ['all of: yes', connect('and.test', { user: 'carol' }), 'all-of'],
  ['all of: wrong port', connect('and.test', { user: 'carol', port: 8443 }), 'default'],
  ['all of: wrong user', connect('and.test', { user: 'dave' }), 'default'],
  ['all of: wrong method', facts({ host: 'and.test', port: 443, user: 'carol' }), 'default'],
];

describe('conditions', () => {
  it.each(cases)('%s', (_name, f, expected) => {
    const want = typeof expected === 'string' ? { ruleId: expected } : expected;
    const d = decide(policy, f);
    expect(d).toMatchObject(want);
    // explain walks every rule without the index and must reach the same verdict
    expect(explain(policy, f).verdict).toEqual(d);
  });

  it('a deny carries the reason, and a default reason when none is given', () => {
    expect(decide(policy, facts({ host: 'ads.example' }))).toEqual({ action: 'deny', ruleId: 'lists', reason: 'Advertising', mode: 'enforce' });
    expect(decide(policy, facts({ host: 'ports.test', port: 8080 }))).toMatchObject({ reason: 'denied by rule "ports"' });
  });
});
