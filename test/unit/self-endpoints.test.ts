import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SelfEndpoints } from '../../src/upstream/dialer.js';

describe('SelfEndpoints (loop detection by destination address)', () => {
  it('matches an exact listener address and port, IPv4-mapped too', () => {
    const s = new SelfEndpoints();
    s.add('127.0.0.1', 3128);
    expect(s.has('127.0.0.1', 3128)).toBe(true);
    expect(s.has('::ffff:127.0.0.1', 3128)).toBe(true);
    expect(s.has('127.0.0.1', 3129)).toBe(false);
    expect(s.has('127.0.0.2', 3128)).toBe(false);
  });

  it('a wildcard listener matches loopback and every local interface address on its port', () => {
    const s = new SelfEndpoints();
    s.add('0.0.0.0', 8080);
    expect(s.has('127.0.0.1', 8080)).toBe(true);
    expect(s.has('127.9.9.9', 8080)).toBe(true);
    expect(s.has('::1', 8080)).toBe(true);
    expect(s.has('127.0.0.1', 8081)).toBe(false);
    const local = Object.values(networkInterfaces()).flatMap((l) => l ?? []).find((i) => !i.internal);
    if (local) expect(s.has(local.address, 8080)).toBe(true);
    expect(s.has('198.51.100.77', 8080)).toBe(false);
  });

  it('an IPv6 wildcard listener matches the same way', () => {
    const s = new SelfEndpoints();
    s.add('::', 3128);
    expect(s.has('::1', 3128)).toBe(true);
    expect(s.has('127.0.0.1', 3128)).toBe(true);
    expect(s.has('::1', 443)).toBe(false);
  });

  it.each([
    ['127.0.0.1', 3128, '::ffff:7f00:1', true],
    ['127.0.0.1', 3128, '0:0:0:0:0:ffff:127.0.0.1', true],
    // Regression: 0.0.0.0 and :: as destinations reach whatever we bound on that port.
    ['127.0.0.1', 3128, '0.0.0.0', true],
    ['127.0.0.1', 3128, '::', true],
    ['127.0.0.1', 3128, '::ffff:0.0.0.0', true],
    ['::1', 3128, '0:0:0:0:0:0:0:1', true],
    ['::1', 3128, '127.0.0.1', false],
    ['127.0.0.1', 3128, '0.0.0.0', true],
    ['127.0.0.1', 3129, '0.0.0.0', false],
    ['127.0.0.1', 3128, '::127.0.0.1', false],
  ] as const)('listener %s:%d, destination %s → %s', (listen, port, dest, want) => {
    const s = new SelfEndpoints();
    s.add(listen, 3128);
    expect(s.has(dest, port)).toBe(want);
  });
});
