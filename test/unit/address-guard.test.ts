import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../src/http/errors.js';
import { AddressGuard } from '../../src/upstream/address-guard.js';

describe('AddressGuard with no allowlist', () => {
  const guard = new AddressGuard([]);
  const forbidden = [
    // IPv4
    '0.0.0.0',
    '0.1.2.3',
    '10.0.0.1',
    '10.255.255.255',
    '100.64.0.1', // CGNAT
    '100.127.255.254',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.169.254', // cloud metadata
    '169.254.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.0.0.1',
    '192.0.2.1',
    '192.168.0.1',
    '198.18.0.1',
    '198.51.100.1',
    '203.0.113.1',
    '224.0.0.1', // multicast
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    // IPv6
    '::',
    '::1',
    'fc00::1',
    'fd00:ec2::254', // AWS metadata over IPv6
    'fe80::1',
    'febf::1',
    'ff02::1',
    '2001:db8::1',
    '100::1',
    // IPv4-mapped IPv6
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::FFFF:192.168.1.1',
    '::ffff:7f00:1', // 127.0.0.1, hex form
    '::ffff:a9fe:a9fe', // 169.254.169.254, hex form
  ];
  it.each(forbidden)('forbids %s', (ip) => {
    expect(guard.permits(ip)).toBe(false);
  });

  const public_ = ['1.1.1.1', '8.8.8.8', '93.184.216.34', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '169.253.255.255', '11.0.0.0', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', 'fec0::1'];
  it.each(public_)('permits %s', (ip) => {
    expect(guard.permits(ip)).toBe(true);
  });

  it('filter keeps only permitted addresses, in order', () => {
    expect(guard.filter('mixed.example', ['10.0.0.1', '8.8.8.8', '::1', '1.1.1.1'])).toEqual(['8.8.8.8', '1.1.1.1']);
  });

  it('filter throws DESTINATION_FORBIDDEN (403) naming the host when nothing is left', () => {
    let err: unknown;
    try {
      guard.filter('internal.example', ['10.0.0.1', '::1']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('DESTINATION_FORBIDDEN');
    expect((err as ProxyError).status).toBe(403);
    expect((err as ProxyError).message).toContain('internal.example');
  });
});

describe('AddressGuard with egress.allowPrivate', () => {
  const guard = new AddressGuard(['127.0.0.1/32', '10.1.0.0/16', 'fd00::/8']);
  it.each([
    ['127.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['127.0.0.2', false],
    ['10.1.2.3', true],
    ['10.2.0.1', false],
    ['::ffff:10.1.9.9', true],
    ['fd12::1', true],
    ['fc00::1', false],
    ['::1', false],
    ['169.254.169.254', false],
    ['8.8.8.8', true],
  ] as const)('%s → %s', (ip, want) => {
    expect(guard.permits(ip)).toBe(want);
  });
});
