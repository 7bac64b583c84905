import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { explain } from '../../src/policy/explain.js';
import { normaliseRequestHost, parseHostPattern } from '../../src/policy/host.js';
import { connect, facts, loadFixtures } from './helpers.js';

const policy = await loadFixtures('hosts.yaml');

// [request host, rule expected to decide]
const cases: [string, string][] = [
  // exact: the name only, any case, trailing dot ignored
  ['exact.example', 'exact'],
  ['EXACT.Example', 'exact'],
  ['exact.example.', 'exact'],
  ['www.exact.example', 'default'],
  ['exact.example.org', 'default'],
  ['notexact.example', 'default'],
  // *.sub.example: subdomains at any depth, not the apex
  ['a.sub.example', 'subdomains-only'],
  ['a.b.c.sub.example', 'subdomains-only'],
  ['A.SUB.EXAMPLE.', 'subdomains-only'],
  ['sub.example', 'default'],
  ['xsub.example', 'default'],
  // .dom.example: the domain and its subdomains
  ['dom.example', 'domain-and-subdomains'],
  ['www.dom.example', 'domain-and-subdomains'],
  ['x.y.dom.example', 'domain-and-subdomains'],
  ['evildom.example', 'default'],
  ['dom.example.evil', 'default'],
  // real globs (minimatch): * within the name, braces
  ['api-v1.glob.example', 'glob'],
  ['API-V2.GLOB.EXAMPLE', 'glob'],
  ['api-.glob.example', 'glob'],
  ['www.api-v1.glob.example', 'default'],
  ['api.glob.example', 'default'],
  ['a.brace.example', 'glob'],
  ['b.brace.example', 'glob'],
  ['c.brace.example', 'default'],
  // IP literals
  ['192.0.2.10', 'ipv4-literal'],
  ['192.0.2.100', 'default'],
  ['[::ffff:192.0.2.10]', 'ipv4-literal'],
  ['::ffff:c000:20a', 'ipv4-literal'],
  ['2001:db8::10', 'ipv6-literal'],
  ['[2001:db8::10]', 'ipv6-literal'],
  ['[2001:DB8:0:0:0:0:0:10]', 'ipv6-literal'],
  ['2001:db8::11', 'ipv6-literal'],
  ['[2001:db8::12]', 'default'],
  // IDN: rules written in Unicode match the punycode clients send, and Unicode too
  ['xn--bcher-kva.example', 'idn'],
  ['bücher.example', 'idn'],
  ['BÜCHER.example', 'idn'],
  ['shop.xn--bcher-kva.example', 'idn'],
  ['bucher.example', 'default'],
  // trailing dot and case in patterns
  ['dot.example', 'trailing-dot-pattern'],
  ['dot.example.', 'trailing-dot-pattern'],
  ['mixed.example', 'mixed-case-pattern'],
];

describe('host patterns', () => {
  it.each(cases)('%s → %s', (host, ruleId) => {
    const d = decide(policy, facts({ host }));
    expect(d).toMatchObject({ ruleId });
    expect(explain(policy, facts({ host })).verdict).toEqual(d);
  });

  it.each(cases)('CONNECT %s:443 → %s (the port does not matter to hosts)', (host, ruleId) => {
    expect(decide(policy, connect(host))).toMatchObject({ ruleId });
  });
});

describe('normaliseRequestHost', () => {
  it.each([
    ['Example.COM.', 'example.com'],
    ['[2001:DB8::1]', '2001:db8::1'],
    ['2001:0db8:0000::0001', '2001:db8::1'],
    ['[::ffff:10.0.0.1]', '10.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['10.0.0.1', '10.0.0.1'],
    ['under_score.example', 'under_score.example'],
    ['bad host!', 'bad host!'],
  ])('%s → %s', (raw, want) => expect(normaliseRequestHost(raw)).toBe(want));
});

describe('parseHostPattern', () => {
  it.each([
    ['example.com', { kind: 'exact', name: 'example.com' }],
    ['*.example.com', { kind: 'subdomains', name: 'example.com' }],
    ['.example.com', { kind: 'domain', name: 'example.com' }],
    ['.Bücher.example.', { kind: 'domain', name: 'xn--bcher-kva.example' }],
    ['[2001:db8::1]', { kind: 'exact', name: '2001:db8::1' }],
  ])('%s', (raw, want) => expect(parseHostPattern(raw)).toEqual(want));

  it.each([
    ['example.com/x', /contains "\/"/],
    ['example.com:443', /ports/],
    ['**.example.com', /"\*\*" is not supported/],
    ['!example.com', /negated/],
    ['a..example', /empty label/],
    ['api-[.example', /unclosed "\["/],
    ['*.bü*cher.example', /mix glob characters and non-ASCII/],
    ['.*.example', /plain domain name/],
    ['exa mple.com', /invalid/],
  ])('%s is rejected', (raw, msg) => {
    const r = parseHostPattern(raw);
    expect(typeof r).toBe('string');
    expect(r).toMatch(msg);
  });
});
