/**
 * `pnpm bench [--quick] [--only <workload>[,<workload>]] [--tiny]`: runs the workloads one after
 * another against PostgreSQL (DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres),
 * prints one JSON line per figure, then a markdown table. Every workload stops by itself.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { apiWorkload } from './api.ts';
import { chainWorkload, handoffWorkload } from './chain.ts';
import { dagFilesWorkload } from './dagfiles.ts';
import { largeDagWorkload } from './largedag.ts';
import { memoryWorkload } from './memory.ts';
import { Reporter } from './report.ts';
import { schedulerWorkload } from './scheduler.ts';
import { SIZES, type Sizes } from './sizes.ts';
import { throughputWorkload } from './throughput.ts';

export const WORKLOADS: Record<string, (report: Reporter, sizes: Sizes) => Promise<void>> = {
  chain: chainWorkload,
  handoff: handoffWorkload,
  throughput: throughputWorkload,
  scheduler: schedulerWorkload,
  dagfiles: dagFilesWorkload,
  api: apiWorkload,
  memory: memoryWorkload,
  largedag: largeDagWorkload,
};

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      tiny: { type: 'boolean', default: false },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      `usage: pnpm bench [--quick] [--tiny] [--only ${Object.keys(WORKLOADS).join('|')}[,...]]\n`,
    );
    return 0;
  }
  const sizes = SIZES[values.tiny ? 'tiny' : values.quick ? 'quick' : 'full'];
  const only = values.only?.split(',').map((s) => s.trim()) ?? Object.keys(WORKLOADS);
  for (const name of only) if (!WORKLOADS[name]) throw new Error(`unknown workload "${name}"`);
  const report = new Reporter();
  const started = Date.now();
  let failed = 0;
  for (const name of only) {
    const t = Date.now();
    try {
      await WORKLOADS[name]?.(report, sizes);
      process.stderr.write(`bench: ${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    } catch (error) {
      failed++;
      process.stderr.write(
        `bench: ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
  }
  process.stdout.write(`\n${report.markdown()}\n\n`);
  process.stdout.write(
    `sizes: ${sizes.name}; total ${((Date.now() - started) / 1000).toFixed(1)} s; absolute times depend on the machine\n`,
  );
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
