import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each<[string | number, number]>([
    [0, 0],
    [1500, 1500],
    [1.6, 2],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['1d2h3m4s5ms', 93_784_005],
    [' 45s ', 45_000],
  ])('%j → %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each<[string | number, RegExp]>([
    ['', /is not a duration/],
    ['30', /"30" is not a duration/],
    ['15x', /"15x" is not a duration/],
    ['1h 30m', /is not a duration/],
    ['-5s', /is not a duration/],
    ['m', /is not a duration/],
    [-1, /non-negative/],
    [Number.NaN, /non-negative/],
    [Number.POSITIVE_INFINITY, /non-negative/],
  ])('rejects %j', (input, message) => {
    expect(() => parseDuration(input)).toThrow(message);
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [0, '0ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [86_400_000 + 61_000, '1d1m1s'],
  ])('%i ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each(['30s', '15m', '1h30m', '2d', '1d2h3m4s'])('round-trips %s', (text) => {
    expect(formatDuration(parseDuration(text))).toBe(text);
  });
});
