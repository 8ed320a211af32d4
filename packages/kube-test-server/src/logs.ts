/** Container logs as the kubelet keeps them: lines with RFC 3339 nanosecond timestamps. */

export interface LogEntry {
  /** RFC 3339 with nanoseconds, strictly increasing per server. */
  ts: string;
  ns: bigint;
  /** The text including its trailing newline (the last one may lack it). */
  text: string;
}

type Listener = (entry: LogEntry | null) => void;

export class ContainerLog {
  readonly entries: LogEntry[] = [];
  #done = false;
  readonly #listeners = new Set<Listener>();
  readonly #clock: () => bigint;
  #partial = '';

  constructor(clock: () => bigint) {
    this.#clock = clock;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Feeds raw process output; complete lines become entries. */
  write(chunk: string): void {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#push(`${line}\n`);
  }

  #push(text: string): void {
    const ns = this.#clock();
    const entry: LogEntry = { ts: formatNs(ns), ns, text };
    this.entries.push(entry);
    for (const l of this.#listeners) l(entry);
  }

  /** The container stopped: flushes a partial last line and ends followers. */
  end(): void {
    if (this.#done) return;
    if (this.#partial !== '') this.#push(this.#partial);
    this.#partial = '';
    this.#done = true;
    for (const l of this.#listeners) l(null);
    this.#listeners.clear();
  }

  follow(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  text(): string {
    return this.entries.map((e) => e.text).join('') + this.#partial;
  }
}

export function formatNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** Parses RFC 3339 (with optional fraction) into nanoseconds since the epoch. */
export function parseTimeNs(value: string): bigint | undefined {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A strictly increasing nanosecond clock. */
export function monotonicNsClock(): () => bigint {
  let last = 0n;
  return () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    last = now > last ? now : last + 1n;
    return last;
  };
}
