import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';

const dir = mkdtempSync(join(tmpdir(), 'egressd-qcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function load(text: string): ReturnType<typeof loadConfig> {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  return loadConfig(file);
}
function problems(text: string): string[] {
  try {
    load(text);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map(formatProblem);
  }
  throw new Error('config was accepted');
}

describe('quota config', () => {
  it('defaults: no profiles, memory store, snapshot next to the config, fail open', () => {
    const { config } = load('{}');
    expect(config.quota).toMatchObject({ profiles: {}, store: 'memory', timezone: 'UTC', anonymous: null, default: null, tunnelCheck: 1000 });
    expect(config.quota.snapshot.file).toBe(join(dir, 'quota-state.json'));
    expect(config.quota.redis).toEqual({ url: 'redis://127.0.0.1:6379', prefix: 'egressd:quota:', onError: 'open', timeout: 500 });
  });

  it.each([
    ['10', 10],
    ['"10/s"', 10],
    ['"600/m"', 10],
    ['"36/h"', 0.01],
    ['0.5', 0.5],
  ])('rate %s = %d per second', (text, want) => {
    expect(load(`quota: { profiles: { p: { rate: ${text} } } }`).config.quota.profiles.p!.rate).toBeCloseTo(want, 9);
  });

  it.each([
    ['"2GiB per day"', 2 * 2 ** 30, 'day'],
    ['"20GiB per month"', 20 * 2 ** 30, 'month'],
    ['"500MiB per hour"', 500 * 2 ** 20, 'hour'],
    ['"1.5g per week"', 1.5 * 2 ** 30, 'week'],
  ])('volume %s', (text, bytes, per) => {
    expect(load(`quota: { profiles: { p: { volume: [${text}] } } }`).config.quota.profiles.p!.volume[0]).toMatchObject({ bytes, per });
  });

  it.each([
    ['quota: { profiles: { p: { rate: 0 } } }', /1:33: quota\.profiles\.p\.rate: invalid rate 0/],
    ['quota: { profiles: { p: { rate: "10 per second" } } }', /invalid rate "10 per second"/],
    ['quota: { profiles: { p: { volume: ["2GiB a day"] } } }', /invalid volume "2GiB a day"/],
    ['quota: { profiles: { p: { volume: ["lots per day"] } } }', /invalid volume/],
    ['quota: { profiles: { p: { volume: ["1GiB per day", "2GiB per day"] } } }', /two volume limits per day/],
    ['quota: { profiles: { p: { burst: 5 } } }', /"burst" needs a "rate"/],
    ['quota: { profiles: { p: { rate: 1, colour: red } } }', /colour/],
    ['quota: { profiles: { p: {} }, users: { alice: q } }', /quota\.users\.alice: unknown quota profile "q" \(profiles: p\)/],
    ['quota: { profiles: { p: {} }, groups: { staff: q } }', /quota\.groups\.staff: unknown quota profile "q"/],
    ['quota: { anonymous: q }', /quota\.anonymous: unknown quota profile "q" \(profiles: none defined\)/],
    ['quota: { timezone: Mars/Base }', /unknown time zone "Mars\/Base"/],
    ['quota: { store: etcd }', /quota\.store/],
    ['quota: { redis: { url: "http://x" } }', /redis:\/\/ or rediss:\/\/ URL/],
    ['quota: { redis: { onError: maybe } }', /quota\.redis\.onError/],
  ])('%s is rejected with a positioned reason', (text, why) => {
    const p = problems(text);
    expect(p.join('\n')).toMatch(why);
    expect(p[0]).toMatch(/\.yaml:\d+:\d+: /);
  });
});
