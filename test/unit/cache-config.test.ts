import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';

/** The cache and admin sections of the config: defaults, validation with positions, paths. */
let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-cache-cfg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  return file;
}

function problems(text: string): string[] {
  try {
    loadConfig(write(text));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map(formatProblem).map((p) => p.slice(p.indexOf('.yaml:') + 6));
  }
  throw new Error('expected the config to be rejected');
}

describe('cache config', () => {
  it('is on by default, memory only, in the schema and in the shipped config', () => {
    const { config } = loadConfig(write('proxy: { name: x }\n'));
    expect(config.cache).toMatchObject({ enabled: true, memory: { maxSize: 256 * 1024 * 1024, maxObjectSize: 8 * 1024 * 1024 }, disk: null, maxTtl: 86_400_000, coalesce: { enabled: true, wait: 10_000 } });
    expect(config.admin).toEqual({ listen: null, token: '' });
    const shipped = loadConfig(DEFAULT_CONFIG_FILE).config;
    expect(shipped.cache.enabled).toBe(true);
    expect(shipped.cache.disk).toBeNull();
    expect(shipped.admin.listen).toEqual({ address: '127.0.0.1', port: 3129 });
  });

  it('resolves the disk folder against the config file', () => {
    const file = write('cache: { disk: { dir: cache-data } }\n');
    expect(loadConfig(file).config.cache.disk).toEqual({ dir: join(dir, 'cache-data'), maxSize: 1 << 30 });
  });

  it.each<[string, string, RegExp]>([
    ['an unknown key', 'cache:\n  memry: {}\n', /^2:3: .*memry/],
    ['a bad size', 'cache:\n  memory: { maxSize: lots }\n', /^2:22: cache.memory.maxSize: invalid size "lots"/],
    ['a force rule without ttl', 'cache:\n  rules:\n    - { hosts: [a.test], action: force }\n', /^3:7: .*ttl above 0/],
    ['a bad host pattern', 'cache:\n  rules:\n    - { hosts: ["a b"], action: bypass }\n', /^3:/],
    ['a path glob without a slash', 'cache:\n  rules:\n    - { paths: ["static/**"], action: bypass }\n', /^3:.*must start with "\/"/],
    ['a fraction above 1', 'cache:\n  heuristicFraction: 2\n', /^2:22: /],
    ['an admin listener on all interfaces without a token', 'admin:\n  listen: { address: 0.0.0.0, port: 9000 }\n', /token of at least 16/],
    ['an admin listener with a host name', 'admin:\n  listen: { address: localhost, port: 9000 }\n', /IPv4 or IPv6 address/],
  ])('rejects %s with its position', (_n, text, want) => {
    const got = problems(text);
    expect(got.some((p) => want.test(p)), got.join('\n')).toBe(true);
  });

  it('accepts an admin listener beyond loopback with a long token', () => {
    const { config } = loadConfig(write('admin:\n  listen: { address: 0.0.0.0, port: 9000 }\n  token: 0123456789abcdef0123\n'));
    expect(config.admin.listen).toEqual({ address: '0.0.0.0', port: 9000 });
  });
});
