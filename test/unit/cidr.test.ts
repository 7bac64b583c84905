import { describe, expect, it } from 'vitest';
import { canonicalIp, CidrSet, parseCidr, unmapIPv4 } from '../../src/http/cidr.js';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['127.0.0.1', { address: '127.0.0.1', prefix: 32, family: 'ipv4' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 'ipv4' }],
    ['::1/128', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['fc00::/7', { address: 'fc00::', prefix: 7, family: 'ipv6' }],
    ['2001:db8::1', { address: '2001:db8::1', prefix: 128, family: 'ipv6' }],
  ] as const)('%s', (text, want) => {
    expect(parseCidr(text)).toEqual(want);
  });

  it.each(['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/a', '10.0.0/8', 'example.com/8', '', '/8', '10.0.0.0/-1', '10.0.0.0/8/8', '256.0.0.0/8'])('%j is invalid', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
});

describe('CidrSet', () => {
  const set = new CidrSet(['10.0.0.0/8', '192.168.1.0/24', '203.0.113.7', '2001:db8::/32', '::1/128']);
  it.each([
    ['10.0.0.0', true],
    ['10.255.255.255', true],
    ['11.0.0.0', false],
    ['9.255.255.255', false],
    ['192.168.1.200', true],
    ['192.168.2.1', false],
    ['203.0.113.7', true],
    ['203.0.113.8', false],
    ['2001:db8::1', true],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['::1', true],
    ['::2', false],
    ['::ffff:10.1.2.3', true], // IPv4-mapped is judged as IPv4
    ['::FFFF:192.168.1.1', true],
    ['::ffff:11.1.2.3', false],
    ['not-an-ip', false],
    ['', false],
  ] as const)('has(%j) → %s', (ip, want) => {
    expect(set.has(ip)).toBe(want);
  });

  it('an empty set matches nothing', () => {
    const empty = new CidrSet([]);
    expect(empty.size).toBe(0);
    expect(empty.has('10.0.0.1')).toBe(false);
  });

  it('0.0.0.0/0 matches every IPv4 address but no IPv6 one', () => {
    const any = new CidrSet(['0.0.0.0/0']);
    expect(any.has('1.2.3.4')).toBe(true);
    expect(any.has('255.255.255.255')).toBe(true);
    expect(any.has('2001:db8::1')).toBe(false);
  });

  it('throws on an invalid CIDR', () => {
    expect(() => new CidrSet(['10.0.0.0/99'])).toThrow();
  });

  it('counts its entries', () => {
    expect(set.size).toBe(5);
  });
});

describe('unmapIPv4', () => {
  it.each([
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::FFFF:10.0.0.1', '10.0.0.1'],
    ['::ffff:zz', '::ffff:zz'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    // Other spellings of the mapped range reach the same IPv4 host (regression: the loop check missed them).
    ['::ffff:7f00:1', '127.0.0.1'],
    ['0:0:0:0:0:ffff:127.0.0.1', '127.0.0.1'],
    ['0:0:0:0:0:FFFF:a9fe:a9fe', '169.254.169.254'],
    ['::ffff:0:0', '0.0.0.0'],
    ['ffff::1', 'ffff::1'],
  ])('%s → %s', (a, b) => {
    expect(unmapIPv4(a)).toBe(b);
  });
});

describe('canonicalIp', () => {
  it.each([
    ['::1', '0:0:0:0:0:0:0:1'],
    ['0:0:0:0:0:0:0:1', '0:0:0:0:0:0:0:1'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['FD00:EC2::254', 'fd00:ec2:0:0:0:0:0:254'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['10.0.0.1', '10.0.0.1'],
    ['not-an-ip', 'not-an-ip'],
  ])('%s → %s', (a, b) => {
    expect(canonicalIp(a)).toBe(b);
  });
});
