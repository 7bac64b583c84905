import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-cfg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(text: string): string {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The formatted problems of a config that must fail. */
function problems(text: string): { file: string; lines: string[] } {
  const file = write(text);
  try {
    loadConfig(file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.code).toBe('CONFIG_INVALID');
    return { file, lines: e.problems.map(formatProblem) };
  }
  throw new Error('config was accepted');
}

describe('loadConfig: valid files', () => {
  it('loads the shipped policies/egressd.yaml', () => {
    const { config, file } = loadConfig(DEFAULT_CONFIG_FILE);
    expect(file).toBe(DEFAULT_CONFIG_FILE);
    expect(config.listeners[0]).toMatchObject({ address: '127.0.0.1', port: 3128 });
    expect(config.proxy.connectPorts).toEqual([443]);
  });

  it('an empty file gives the defaults, with durations and sizes in ms and bytes', () => {
    const { config } = loadConfig(write(''));
    expect(config.listeners).toEqual([{ address: '127.0.0.1', port: 3128, mode: 'forward', proxyProtocol: 'off', proxyFrom: [] }]);
    expect(config.timeouts.requestHeaders).toBe(10_000);
    expect(config.timeouts.tunnelIdle).toBe(600_000);
    expect(config.limits.maxHeaderSize).toBe(65_536);
    expect(config.egress.allowPrivate).toEqual([]);
    expect(config.proxy).toMatchObject({ name: 'egressd', via: true, xForwardedFor: 'off', connectPorts: [443] });
  });

  it('parses units and accepts IPv6 listeners', () => {
    const { config } = loadConfig(
      write(`listeners:
  - address: "::1"
    port: 0
  - address: 127.0.0.1
    port: 0
timeouts: { requestHeaders: 1500ms, tunnelIdle: 2m, shutdownGrace: 1h }
limits: { maxHeaderSize: 8KiB }
`),
    );
    expect(config.listeners.map((l) => l.address)).toEqual(['::1', '127.0.0.1']);
    expect(config.timeouts).toMatchObject({ requestHeaders: 1500, tunnelIdle: 120_000, shutdownGrace: 3_600_000 });
    expect(config.limits.maxHeaderSize).toBe(8192);
  });

  it('returns a frozen config', () => {
    const { config } = loadConfig(write('proxy: { name: frozen }\n'));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.proxy)).toBe(true);
    expect(Object.isFrozen(config.proxy.connectPorts)).toBe(true);
    expect(() => {
      (config.proxy as { name: string }).name = 'x';
    }).toThrow();
  });

  it('resolves relative log paths against the config file folder, leaves stdout/stderr/absolute alone', () => {
    const { config } = loadConfig(write('log: { access: logs/access.log, server: stderr }\n'));
    expect(config.log.access).toBe(join(dir, 'logs', 'access.log'));
    expect(config.log.server).toBe('stderr');
    const abs = loadConfig(write('log: { access: /var/log/egressd/access.log, server: stdout }\n')).config.log;
    expect(abs).toMatchObject({ access: '/var/log/egressd/access.log', server: 'stdout', level: 'info' });
  });

  it('accepts a non-loopback listener when clients.allow is set', () => {
    expect(() => loadConfig(write('listeners: [{ address: 0.0.0.0, port: 0 }]\nclients: { allow: [10.0.0.0/8] }\n'))).not.toThrow();
  });
});

describe('loadConfig: errors with file:line:col', () => {
  it('reports an unknown top-level key at the key', () => {
    const { file, lines } = problems('proxy:\n  name: x\nbogus: 1\n');
    expect(lines).toEqual([`${file}:3:1: unknown key "bogus"`]);
  });

  it('reports an unknown nested key at the key, with its path', () => {
    const { file, lines } = problems('timeouts:\n  requestHeaders: 1s\n  tunelIdle: 5s\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:3:3: unknown key "tunelIdle".*timeouts`));
  });

  it('reports a wrong type at the value', () => {
    const { file, lines } = problems('listeners:\n  - address: 127.0.0.1\n    port: "abc"\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${file}:3:11: listeners[0].port: `)).toBe(true);
  });

  it('reports a bad duration and a bad size at their values', () => {
    const { file, lines } = problems('timeouts:\n  requestHeaders: 10 parsecs\nlimits:\n  maxHeaderSize: huge\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:2:19: timeouts\\.requestHeaders: invalid duration "10 parsecs"`));
    expect(lines[1]).toMatch(new RegExp(`^${escape(file)}:4:18: limits\\.maxHeaderSize: invalid size "huge"`));
  });

  it('reports every problem at once, sorted by position', () => {
    const { file, lines } = problems(`listeners:
  - address: not-an-ip
    port: 99999
proxy:
  xForwardedFor: sometimes
  connectPorts: [443, "x"]
egress:
  allowPrivate: [10.0.0.0/33]
timeouts:
  clientIdle: forever
extra: true
`);
    expect(lines.map((l) => l.slice(file.length + 1).split(':').slice(0, 2).join(':'))).toEqual(['2:14', '3:11', '5:18', '6:23', '8:18', '10:15', '11:1']);
    expect(lines.every((l) => l.startsWith(`${file}:`))).toBe(true);
  });

  it('reports YAML syntax errors with their position', () => {
    const { file, lines } = problems('proxy:\n  name: x\n  name: y\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:3:\\d+: `));
  });

  it('reports bad indentation / tabs as syntax problems', () => {
    const { file, lines } = problems('proxy:\n\tname: x\n');
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:2:\\d+: `));
  });

  it('refuses a non-loopback listener with an empty clients.allow (no open proxy)', () => {
    const { file, lines } = problems('listeners:\n  - address: 0.0.0.0\n    port: 3128\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:2:14: .*clients\\.allow`));
  });

  it('refuses an IPv6 wildcard listener with an empty clients.allow', () => {
    const { lines } = problems('listeners:\n  - address: "::"\n    port: 3128\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('clients.allow');
  });

  it('reports the open-proxy problem together with schema problems in the same file', () => {
    const { file, lines } = problems('listeners:\n  - address: 0.0.0.0\n    port: 3128\ntimeouts:\n  clientIdle: forever\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${escape(file)}:2:14: .*clients\\.allow`));
    expect(lines[1]).toMatch(new RegExp(`^${escape(file)}:5:15: `));
  });

  it('refuses a listener declared twice', () => {
    const { lines } = problems('listeners:\n  - { address: 127.0.0.1, port: 3128 }\n  - { address: 127.0.0.1, port: 3128 }\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/:3:5: .*declared twice/);
  });

  it('reports a missing file as a problem at 1:1', () => {
    const missing = join(dir, 'nope.yaml');
    try {
      loadConfig(missing);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect(formatProblem((e as ConfigError).problems[0]!)).toMatch(new RegExp(`^${escape(missing)}:1:1: cannot read file: ENOENT`));
    }
  });

  it('rejects a document that is not a mapping', () => {
    const { lines } = problems('- just\n- a list\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/:1:1: /);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
