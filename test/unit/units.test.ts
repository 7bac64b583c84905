import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../src/config/units.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['0', 0],
    ['250', 250],
    [' 10s ', 10_000],
    ['10 s', 10_000],
    [1500, 1500],
    [0, 0],
  ] as const)('%j → %d ms', (input, want) => {
    expect(parseDuration(input)).toBe(want);
  });

  it.each(['', 'ten seconds', '10x', '-5s', '10sec', '1e3', 's', '1.s', '10S', '1h30m', NaN, -1, Infinity] as const)('%j is invalid', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('parseSize', () => {
  it.each([
    ['64KiB', 65_536],
    ['64kib', 65_536],
    ['8KiB', 8192],
    ['1MiB', 1_048_576],
    ['1mb', 1_048_576],
    ['2GiB', 2_147_483_648],
    ['1k', 1024],
    ['100b', 100],
    ['100', 100],
    ['1.5KiB', 1536],
    [' 4 KiB ', 4096],
    [4096, 4096],
    [10.7, 10],
  ] as const)('%j → %d bytes', (input, want) => {
    expect(parseSize(input)).toBe(want);
  });

  it.each(['', 'lots', '64KB/s', '-1KiB', '1TiB', 'KiB', '1e6', NaN, -1, Infinity] as const)('%j is invalid', (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});
