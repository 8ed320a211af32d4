/** Durations are written by people as "30s", "15m", "1h30m" or milliseconds; stored as milliseconds. */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
const WHOLE = /^(\d+(?:\.\d+)?(ms|s|m|h|d|w))+$/;

export type DurationInput = number | string;

/** Parses "90s", "15m", "1h30m", "2d" or a number of milliseconds. Throws on anything else. */
export function parseDuration(input: DurationInput): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new Error(`duration must be a non-negative number of milliseconds, got ${input}`);
    }
    return Math.round(input);
  }
  const text = input.trim();
  if (!WHOLE.test(text)) {
    throw new Error(`"${input}" is not a duration; use forms like "30s", "15m", "1h30m", "2d"`);
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  }
  return Math.round(total);
}

/** Formats milliseconds compactly for logs and the UI: 1500 → "1.5s", 5400000 → "1h30m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
