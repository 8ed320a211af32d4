/** Figures: one JSON line each on stdout, and a markdown table at the end. */

export interface Figure {
  workload: string;
  metric: string;
  value: number;
  unit: string;
  params: Record<string, unknown>;
}

export class Reporter {
  readonly figures: Figure[] = [];
  readonly #write: (line: string) => void;

  constructor(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {
    this.#write = write;
  }

  add(
    workload: string,
    metric: string,
    value: number,
    unit: string,
    params: Record<string, unknown> = {},
  ): void {
    const figure = { workload, metric, value: round(value), unit, params };
    this.figures.push(figure);
    this.#write(JSON.stringify(figure));
  }

  /** Prints our figure, the peer's figure from the same run, and their ratio (ours / peer's). */
  compare(
    workload: string,
    metric: string,
    ours: number,
    peer: number,
    unit: string,
    params: Record<string, unknown> = {},
  ): void {
    this.add(workload, metric, ours, unit, { ...params, system: 'updraft' });
    this.add(workload, metric, peer, unit, { ...params, system: 'graphile-worker' });
    this.add(
      workload,
      `${metric} ratio updraft/graphile`,
      peer === 0 ? 0 : ours / peer,
      'x',
      params,
    );
  }

  markdown(): string {
    const lines = [
      '| workload | metric | value | unit | params |',
      '| --- | --- | ---: | --- | --- |',
    ];
    for (const f of this.figures) {
      const params = Object.entries(f.params)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      lines.push(`| ${f.workload} | ${f.metric} | ${f.value} | ${f.unit} | ${params} |`);
    }
    return lines.join('\n');
  }
}

export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  return Number(value.toFixed(digits));
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
