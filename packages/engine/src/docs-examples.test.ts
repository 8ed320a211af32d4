/**
 * Every DAG example in docs/concepts/*.md is real: each ```ts block is a complete DAG file that must
 * load without import errors, and each ```ts run block is also triggered and run to the end on
 * PostgreSQL, its final task states compared with the page's `<!-- expect: {...} -->` comment.
 *
 * Page conventions (see docs/concepts/README.md):
 *   ```ts run            a DAG file whose DAGs are all triggered and run
 *   ```
 *   <!-- expect: {"task": "success", "mapped[0]": "success"} -->
 *   <!-- expect-run: failed -->          (optional; default success)
 *   <!-- conf: {"param": 1} -->          (optional conf for the triggered run)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rowsOf, schema } from '@updraft/db';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, TEST_TEAMS } from './testing.ts';

const CONCEPTS_DIR = fileURLToPath(new URL('../../../docs/concepts', import.meta.url));

/** Teams the examples may use. */
const DOC_TEAMS = [
  ...TEST_TEAMS,
  { id: 'ml', name: 'Machine Learning', namespace: 'team-ml' },
  { id: 'finance', name: 'Finance', namespace: 'team-finance' },
];

interface Example {
  page: string;
  index: number;
  line: number;
  source: string;
  run: boolean;
  expectStates: Record<string, string>;
  expectRun: string;
  conf: Record<string, unknown>;
}

function commentJson(after: string, name: string): unknown {
  const match = new RegExp(`^\\s*<!--\\s*${name}:\\s*(.+?)\\s*-->`, 'm').exec(after);
  if (!match) return undefined;
  try {
    return JSON.parse(match[1]!);
  } catch {
    return match[1];
  }
}

function examplesOf(page: string, text: string): Example[] {
  const out: Example[] = [];
  const fence = /^```ts( run)?[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const run = m[1] === ' run';
    // Only the comments directly after the block (up to the next blank-line-separated paragraph).
    const rest = text.slice(m.index + m[0].length);
    const tail = rest.split(/\n\s*\n(?!\s*<!--)/)[0] ?? '';
    out.push({
      page,
      index: out.length,
      line: text.slice(0, m.index).split('\n').length,
      source: m[2]!,
      run,
      expectStates: (commentJson(tail, 'expect') as Record<string, string> | undefined) ?? {},
      expectRun: (commentJson(tail, 'expect-run') as string | undefined) ?? 'success',
      conf: (commentJson(tail, 'conf') as Record<string, unknown> | undefined) ?? {},
    });
  }
  return out;
}

function loadExamples(): Example[] {
  let pages: string[] = [];
  try {
    // README.md explains the conventions with an illustrative block; it is not an example.
    pages = readdirSync(CONCEPTS_DIR).filter((f) => f.endsWith('.md') && f !== 'README.md');
  } catch {
    return [];
  }
  return pages
    .sort()
    .flatMap((page) => examplesOf(page, readFileSync(join(CONCEPTS_DIR, page), 'utf8')));
}

const EXAMPLES = loadExamples();
const fileName = (e: Example) => `${e.page.replace(/\.md$/, '')}-${e.index + 1}.ts`;
const label = (e: Example) => `${e.page} example ${e.index + 1} (line ${e.line})`;

describe('docs/concepts examples', () => {
  let h: EngineHarness;
  const dagsByFile = new Map<string, string[]>();

  beforeAll(async () => {
    // Paused: a documented schedule must not start creating runs while the examples are checked.
    h = await createEngineHarness('postgres', { pauseNewDags: true, teams: DOC_TEAMS });
    for (const e of EXAMPLES) await h.writeDag(fileName(e), e.source);
    await h.processor.sync();
    const { db } = h.resources.database;
    const rows = await db
      .select({ dagId: schema.dags.dagId, fileloc: schema.dags.fileloc })
      .from(schema.dags);
    for (const r of rows) {
      const name = r.fileloc.split('/').pop()!;
      dagsByFile.set(name, [...(dagsByFile.get(name) ?? []), r.dagId]);
    }
    await h.worker({ concurrency: 8 }).start();
    await h.scheduler().start();
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('finds the concept pages and their examples', () => {
    expect(EXAMPLES.length).toBeGreaterThan(0);
  });

  it.each(EXAMPLES.map((e) => [label(e), e] as const))('%s loads', async (_label, e) => {
    const { db } = h.resources.database;
    const errors = await db.select().from(schema.importErrors);
    const mine = errors.filter((r) => r.fileloc.endsWith(`/${fileName(e)}`));
    expect(mine.map((r) => r.message)).toEqual([]);
    expect(dagsByFile.get(fileName(e)) ?? [], 'the block defines at least one DAG').not.toEqual([]);
  });

  const runnable = EXAMPLES.filter((e) => e.run);
  it.each(runnable.map((e) => [label(e), e] as const))(
    '%s runs with the documented states',
    async (_label, e) => {
      expect(
        Object.keys(e.expectStates).length,
        'a run block states the expected task states in <!-- expect: {...} -->',
      ).toBeGreaterThan(0);
      const { db } = h.resources.database;
      for (const dagId of dagsByFile.get(fileName(e)) ?? []) {
        // Unpaused for this manual run only: no scheduled runs are created for it.
        await db.execute(sql`update dags set is_paused = false, next_dagrun_create_after = null
          where dag_id = ${dagId}`);
        const { runId } = await h.ops.triggerRun(dagId, { actor: 'docs-test', conf: e.conf });
        const run = await h.finishedRun(runId, { timeoutMs: 30_000 });
        const tis = rowsOf<{ task_id: string; map_index: number; state: string }>(
          await db.execute(
            sql`select task_id, map_index, state from task_instances where dag_run_id = ${run.id}`,
          ),
        );
        const states = Object.fromEntries(
          tis.map((t) => [t.map_index >= 0 ? `${t.task_id}[${t.map_index}]` : t.task_id, t.state]),
        );
        const expected = Object.fromEntries(
          Object.keys(e.expectStates).map((k) => [k, states[k] ?? '(no such task instance)']),
        );
        expect(expected, `${dagId}: task states`).toEqual(e.expectStates);
        expect(run.state, `${dagId}: run state`).toBe(e.expectRun);
        await db.update(schema.dags).set({ isPaused: true }).where(eq(schema.dags.dagId, dagId));
      }
    },
    60_000,
  );
});
