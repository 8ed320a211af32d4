/**
 * Sensors on real PostgreSQL: reschedule mode frees the worker slot (reschedules are not tries),
 * poke mode holds it, the timeout counts from the first start and fails (or skips with softFail),
 * and the built-in conditions (check, external task, HTTP, SQL, file) work end to end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowsOf, schema } from '@updraft/db';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineHarness, type EngineHarness, waitFor } from '../../testing.ts';
import type { Worker } from '../index.ts';
import { checkAnswer, httpExpectMet, truthyCell } from './sensor.ts';

let h: EngineHarness;
let dir: string;
let server: Server;
let base: string;
const secretToken = 'tok-5e3c7-very-secret';
/** What the local HTTP endpoint answers; the test flips it. */
let endpointReady = false;
const seenAuth: string[] = [];

beforeAll(async () => {
  h = await createEngineHarness('postgres');
  dir = await mkdtemp(join(tmpdir(), 'updraft-sensor-'));
  server = createServer((req, res) => {
    seenAuth.push(req.headers.authorization ?? '');
    res.setHeader('content-type', 'application/json');
    // Answers that waiting cannot change, and one that it can.
    const refused = /^\/(unauthorized|missing)/.exec(req.url ?? '')?.[1];
    if (refused) {
      res.statusCode = refused === 'missing' ? 404 : 401;
      return res.end(JSON.stringify({ error: refused }));
    }
    res.end(JSON.stringify(endpointReady ? { state: 'ready', rows: 7 } : { state: 'pending' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await h.resources.database.db.execute(sql`create table sensor_flag (ok boolean)`);
  await h.scheduler().start();
});

afterAll(async () => {
  await h?.close();
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

const ti = async (runId: string, taskId: string) =>
  (
    await h.resources.database.db
      .select()
      .from(schema.taskInstances)
      .where(and(eq(schema.taskInstances.runId, runId), eq(schema.taskInstances.taskId, taskId)))
  )[0]!;

const xcom = async (runId: string, taskId: string) => {
  const [row] = rowsOf<{ value: string }>(
    await h.resources.database.db.execute(sql`select x.value::text as value from xcoms x
      join dag_runs r on r.id = x.dag_run_id
      where r.run_id = ${runId} and x.task_id = ${taskId} and x.key = 'return_value'`),
  );
  return row ? JSON.parse(row.value) : undefined;
};

async function withWorker<T>(
  opts: Parameters<EngineHarness['worker']>[0],
  fn: (w: Worker) => Promise<T>,
): Promise<T> {
  const w = h.worker(opts);
  await w.start();
  try {
    return await fn(w);
  } finally {
    await w.stop();
  }
}

/** A check sensor whose condition is "the flag file exists"; it counts its checks in a file. */
function flagDag(dagId: string, mode: 'poke' | 'reschedule', flag: string) {
  return `
import { appendFileSync, existsSync } from 'node:fs';
import { dag } from '@updraft/sdk';
export default dag({ id: '${dagId}', team: 'data-eng' }, (d) => {
  d.sensor.check('wait', () => {
    appendFileSync(${JSON.stringify(`${flag}.checks`)}, 'x');
    return existsSync(${JSON.stringify(flag)}) ? { done: true, value: { rows: 3 } } : false;
  }, { mode: '${mode}', pokeInterval: 30, timeout: '1m', retries: 2 });
});
`;
}

const OTHER_DAG = `
import { dag } from '@updraft/sdk';
export default dag({ id: 'other', team: 'data-eng' }, (d) => {
  d.shell('work', { command: 'echo done' });
});
`;

async function checksOf(flag: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile(`${flag}.checks`, 'utf8').catch(() => '')).length;
}

describe('reschedule and poke modes', () => {
  it('reschedule mode frees the worker slot; the try number stays 1 while reschedules grow', async () => {
    const flag = join(dir, 'resched.flag');
    await h.writeDag('resched.ts', flagDag('resched', 'reschedule', flag));
    await h.writeDag('other.ts', OTHER_DAG);
    await h.processor.sync();
    await withWorker({ concurrency: 1 }, async () => {
      const { runId } = await h.ops.triggerRun('resched', { actor: 'test' });
      await waitFor(async () => (await ti(runId, 'wait')).rescheduleCount >= 2, {
        what: 'the sensor to be rescheduled twice',
      });
      // With one worker slot, another task runs while the sensor waits.
      const other = await h.ops.triggerRun('other', { actor: 'test' });
      expect((await h.finishedRun(other.runId)).state).toBe('success');
      expect((await ti(runId, 'wait')).state).not.toBe('success');
      await writeFile(flag, '');
      expect((await h.finishedRun(runId)).state).toBe('success');
      const done = await ti(runId, 'wait');
      expect(done.tryNumber).toBe(1);
      expect(done.rescheduleCount).toBeGreaterThanOrEqual(2);
      expect(done.rescheduleCount).toBe((await checksOf(flag)) - 1);
      expect(await xcom(runId, 'wait')).toEqual({ rows: 3 });
      // The event log records every reschedule under try 1.
      const events = await h.resources.database.db
        .select()
        .from(schema.events)
        .where(and(eq(schema.events.runId, runId), eq(schema.events.taskId, 'wait')));
      expect(events.filter((e) => e.toState === 'up_for_reschedule').length).toBe(
        done.rescheduleCount,
      );
      expect(new Set(events.map((e) => e.tryNumber))).toEqual(new Set([1]));
    });
  });

  it('poke mode holds its worker slot until the condition holds', async () => {
    const flag = join(dir, 'poke.flag');
    await h.writeDag('poke.ts', flagDag('poke', 'poke', flag));
    await h.processor.sync();
    await withWorker({ concurrency: 1 }, async () => {
      const { runId } = await h.ops.triggerRun('poke', { actor: 'test' });
      await waitFor(async () => (await checksOf(flag)) >= 3, { what: 'three checks' });
      const other = await h.ops.triggerRun('other', { actor: 'test' });
      // The only slot is taken by the poking sensor: the other task stays queued meanwhile.
      await waitFor(async () => (await checksOf(flag)) >= 8, { what: 'five more checks' });
      expect((await ti(other.runId, 'work')).state).toBe('queued');
      await writeFile(flag, '');
      expect((await h.finishedRun(runId)).state).toBe('success');
      expect((await h.finishedRun(other.runId)).state).toBe('success');
      const done = await ti(runId, 'wait');
      expect([done.tryNumber, done.rescheduleCount]).toEqual([1, 0]);
    });
  });
});

describe('clearing a waiting sensor', () => {
  it('starts a new try: try number 2, reschedules and timeout counted afresh', async () => {
    const flag = join(dir, 'cleared.flag');
    await h.writeDag('cleared.ts', flagDag('cleared', 'reschedule', flag));
    await h.processor.sync();
    await withWorker({}, async () => {
      const { runId } = await h.ops.triggerRun('cleared', { actor: 'test' });
      const first = await waitFor(
        async () => {
          const t = await ti(runId, 'wait');
          return t.rescheduleCount >= 2 && t.state === 'up_for_reschedule' ? t : null;
        },
        { what: 'the sensor to wait' },
      );
      await h.ops.clearTaskInstances('cleared', runId, { taskIds: ['wait'], actor: 'test' });
      let seen = '';
      const second = await waitFor(
        async () => {
          const t = await ti(runId, 'wait');
          seen = `${t.state} try ${t.tryNumber} (${t.stateReason})`;
          return t.tryNumber === 2 && t.state === 'up_for_reschedule' ? t : null;
        },
        { what: () => `the second try to wait; last seen: ${seen}` },
      );
      expect(second.rescheduleCount).toBeLessThan(first.rescheduleCount + 1);
      expect(second.firstTryStartedAt!.getTime()).toBeGreaterThan(
        first.firstTryStartedAt!.getTime(),
      );
      await writeFile(flag, '');
      expect((await h.finishedRun(runId)).state).toBe('success');
      expect((await ti(runId, 'wait')).tryNumber).toBe(2);
    });
  });
});

describe('timeouts count from the first start', () => {
  const cases = [
    { task: 'poke_fail', mode: 'poke', softFail: false, state: 'failed' },
    { task: 'poke_soft', mode: 'poke', softFail: true, state: 'skipped' },
    { task: 'resched_fail', mode: 'reschedule', softFail: false, state: 'failed' },
    { task: 'resched_soft', mode: 'reschedule', softFail: true, state: 'skipped' },
  ] as const;

  it.each(cases)('$mode with softFail=$softFail ends $state, without retrying', async (c) => {
    const dagId = `timeout_${c.task}`;
    await h.writeDag(
      `${dagId}.ts`,
      `
import { dag } from '@updraft/sdk';
export default dag({ id: '${dagId}', team: 'data-eng' }, (d) => {
  d.sensor.check('${c.task}', () => false, {
    mode: '${c.mode}', pokeInterval: 40, timeout: 400, softFail: ${c.softFail}, retries: 3, retryDelay: 0,
  });
});
`,
    );
    await h.processor.sync();
    await withWorker({ concurrency: 1 }, async () => {
      const { runId } = await h.ops.triggerRun(dagId, { actor: 'test' });
      await h.finishedRun(runId);
      const done = await ti(runId, c.task);
      expect(done.state).toBe(c.state);
      expect(done.tryNumber).toBe(1);
      expect(done.stateReason).toMatch(/sensor timed out: the condition was not met within 400ms/);
      const elapsed = done.endDate!.getTime() - done.firstStartedAt!.getTime();
      expect(elapsed).toBeGreaterThanOrEqual(400);
    });
  });
});

describe('the timeout across retries', () => {
  it('counts from the first try, not from the retry', async () => {
    await h.writeDag(
      'timeout_retry.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'timeout_retry', team: 'data-eng' }, (d) => {
  d.sensor.check('flaky', (ctx) => {
    if (ctx.tryNumber === 1) throw new Error('source unreachable');
    return false;
  }, { mode: 'reschedule', pokeInterval: 40, timeout: 600, retries: 1, retryDelay: 300 });
});
`,
    );
    await h.processor.sync();
    await withWorker({}, async () => {
      const { runId } = await h.ops.triggerRun('timeout_retry', { actor: 'test' });
      await h.finishedRun(runId);
      const done = await ti(runId, 'flaky');
      expect([done.state, done.tryNumber]).toEqual(['failed', 2]);
      expect(done.stateReason).toMatch(/^sensor timed out/);
      const end = done.endDate!.getTime();
      expect(end - done.firstTryStartedAt!.getTime()).toBeGreaterThanOrEqual(600);
      // The retry started well after the first try: its own start is not the anchor.
      expect(end - done.firstStartedAt!.getTime()).toBeLessThan(600);
    });
  });
});

describe('external task sensor', () => {
  const logicalDate = new Date('2026-03-01T00:00:00Z');
  const cases = [
    { name: 'task_success', upstream: 'exit 0', options: `taskId: 'produce'`, state: 'success' },
    { name: 'task_failed', upstream: 'exit 1', options: `taskId: 'produce'`, state: 'failed' },
    { name: 'whole_run', upstream: 'exit 0', options: '', state: 'success' },
    {
      name: 'run_failed_soft',
      upstream: 'exit 1',
      options: 'softFail: true',
      state: 'skipped',
    },
    {
      name: 'delta',
      upstream: 'exit 0',
      options: `taskId: 'produce', executionDelta: '1d'`,
      state: 'success',
      upstreamDate: new Date('2026-02-28T00:00:00Z'),
    },
  ];

  it.each(cases)('$name → $state', async (c) => {
    const up = `ext_up_${c.name}`;
    const down = `ext_down_${c.name}`;
    await h.writeDag(
      `${down}.ts`,
      `
import { dag } from '@updraft/sdk';
export default dag({ id: '${up}', team: 'data-eng' }, (d) => {
  d.shell('produce', { command: '${c.upstream}' });
});
export const waiting = dag({ id: '${down}', team: 'data-eng' }, (d) => {
  d.sensor.externalTask('wait', {
    dagId: '${up}', ${c.options ? `${c.options}, ` : ''}mode: 'reschedule', pokeInterval: 30, timeout: '1m',
  });
});
`,
    );
    await h.processor.sync();
    await withWorker({ concurrency: 2 }, async () => {
      const { runId } = await h.ops.triggerRun(down, { actor: 'test', logicalDate });
      // No upstream run yet: the sensor waits.
      await waitFor(async () => (await ti(runId, 'wait')).rescheduleCount >= 1, {
        what: 'the sensor to wait for the missing upstream run',
      });
      await h.ops.triggerRun(up, { actor: 'test', logicalDate: c.upstreamDate ?? logicalDate });
      await h.finishedRun(runId);
      const done = await ti(runId, 'wait');
      expect(done.state).toBe(c.state);
      if (c.state !== 'success') expect(done.stateReason).toMatch(new RegExp(`${up}.* is failed`));
    });
  });

  it('fails at once when the external task does not exist', async () => {
    await h.writeDag(
      'ext_missing.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'ext_missing', team: 'data-eng' }, (d) => {
  d.sensor.externalTask('wait', { dagId: 'no_such_dag', retries: 2 });
});
`,
    );
    await h.processor.sync();
    await withWorker({}, async () => {
      const { runId } = await h.ops.triggerRun('ext_missing', { actor: 'test' });
      await h.finishedRun(runId);
      const done = await ti(runId, 'wait');
      expect([done.state, done.tryNumber]).toEqual(['failed', 1]);
      expect(done.stateReason).toBe('external DAG "no_such_dag" does not exist');
    });
  });
});

describe('HTTP, SQL and file sensors', () => {
  it('HTTP: done when the response matches; secret headers come from the environment, masked', async () => {
    await h.writeDag(
      'http_sensor.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'http_sensor', team: 'data-eng' }, (d) => {
  d.sensor.http('ready', {
    url: '${base}/status/{{ ds }}',
    headers: { Authorization: 'Bearer \${API_TOKEN}' },
    expect: { status: [200], field: 'state', equals: 'ready' },
    mode: 'reschedule', pokeInterval: 30, timeout: '1m',
  });
  d.sensor.http('ready_fn', {
    url: '${base}/status',
    headers: { Authorization: 'Bearer \${API_TOKEN}' },
    check: (response) => response.status === 200 && response.json.rows === 7,
    mode: 'reschedule', pokeInterval: 30, timeout: '1m',
  });
});
`,
    );
    await h.processor.sync();
    endpointReady = false;
    await withWorker({ env: { API_TOKEN: secretToken } }, async () => {
      const { runId } = await h.ops.triggerRun('http_sensor', { actor: 'test' });
      await waitFor(async () => (await ti(runId, 'ready')).rescheduleCount >= 1, {
        what: 'a pending answer',
      });
      endpointReady = true;
      expect((await h.finishedRun(runId)).state).toBe('success');
      expect(await xcom(runId, 'ready')).toEqual({ state: 'ready', rows: 7 });
      expect((await ti(runId, 'ready_fn')).state).toBe('success');
      expect(seenAuth).toContain(`Bearer ${secretToken}`);
      const logs = rowsOf<{ content: string }>(
        await h.resources.database.db.execute(sql`select l.content from task_logs l
          join task_instances t on t.id = l.task_instance_id where t.run_id = ${runId}`),
      );
      expect(logs.map((l) => l.content).join('')).toContain('/status/');
      expect(JSON.stringify(logs)).not.toContain(secretToken);
    });
  });

  it('HTTP: fails at once on a client error waiting cannot change; waits through a 404', async () => {
    await h.writeDag(
      'http_refused.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'http_refused', team: 'data-eng' }, (d) => {
  d.sensor.http('denied', { url: '${base}/unauthorized', mode: 'reschedule', pokeInterval: 30, timeout: '1h', retries: 0 });
  d.sensor.http('not_yet', { url: '${base}/missing', mode: 'reschedule', pokeInterval: 30, timeout: '1h' });
});
`,
    );
    await h.processor.sync();
    await withWorker({}, async () => {
      const { runId } = await h.ops.triggerRun('http_refused', { actor: 'test' });
      const denied = await waitFor(
        async () => {
          const row = await ti(runId, 'denied');
          return row.state === 'failed' ? row : null;
        },
        { what: 'the 401 to fail the sensor' },
      );
      expect(denied.stateReason).toMatch(
        /^GET .*\/unauthorized answered 401: .*\(waiting will not change a 401\)$/,
      );
      await waitFor(async () => (await ti(runId, 'not_yet')).rescheduleCount >= 2, {
        what: 'the 404 to be waited through',
      });
      const waiting = await ti(runId, 'not_yet');
      expect(waiting.state).toBe('up_for_reschedule');
      expect(waiting.nextAttemptAt).not.toBeNull();
      // Marked success by hand: it waits for nothing any more.
      await h.ops.markTaskInstance('http_refused', runId, 'not_yet', 'success', 'test');
      const marked = await ti(runId, 'not_yet');
      expect({ state: marked.state, next: marked.nextAttemptAt }).toEqual({
        state: 'success',
        next: null,
      });
    });
  });

  it('SQL: waits for a truthy first cell on a database named by an environment variable', async () => {
    await h.writeDag(
      'sql_sensor.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'sql_sensor', team: 'data-eng' }, (d) => {
  d.sensor.sql('rows', {
    connEnv: 'WAREHOUSE_URL', query: 'select ok from sensor_flag limit 1',
    mode: 'reschedule', pokeInterval: 30, timeout: '1m',
  });
  d.sensor.sql('unset', { connEnv: 'NOT_SET_ANYWHERE', query: 'select 1' });
  d.sensor.sql('own', { connEnv: 'DATABASE_URL', query: 'select 1' });
});
`,
    );
    await h.processor.sync();
    await withWorker({ env: { WAREHOUSE_URL: h.db.url! } }, async () => {
      const { runId } = await h.ops.triggerRun('sql_sensor', { actor: 'test' });
      await waitFor(async () => (await ti(runId, 'rows')).rescheduleCount >= 1, {
        what: 'an empty table to keep the sensor waiting',
      });
      await h.resources.database.db.execute(sql`insert into sensor_flag values (false)`);
      await waitFor(async () => (await ti(runId, 'rows')).rescheduleCount >= 3, {
        what: 'a false cell to keep the sensor waiting',
      });
      await h.resources.database.db.execute(sql`update sensor_flag set ok = true`);
      await h.finishedRun(runId);
      expect((await ti(runId, 'rows')).state).toBe('success');
      expect(await xcom(runId, 'rows')).toBe(true);
      const unset = await ti(runId, 'unset');
      expect([unset.state, unset.stateReason]).toEqual([
        'failed',
        'task "unset" connEnv: environment variable NOT_SET_ANYWHERE is not set on this worker',
      ]);
      expect((await ti(runId, 'own')).stateReason).toMatch(
        /DATABASE_URL belongs to the worker's own configuration/,
      );
    });
  });

  it('file: waits until a glob matches; the result is the matching paths', async () => {
    const inbox = join(dir, 'inbox');
    await h.writeDag(
      'file_sensor.ts',
      `
import { dag } from '@updraft/sdk';
export default dag({ id: 'file_sensor', team: 'data-eng' }, (d) => {
  d.sensor.file('arrived', { path: ${JSON.stringify(`${inbox}/{{ ds }}-*.csv`)}, mode: 'reschedule', pokeInterval: 30 });
});
`,
    );
    await h.processor.sync();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(inbox, { recursive: true });
    await withWorker({}, async () => {
      const logicalDate = new Date('2026-05-04T00:00:00Z');
      const { runId } = await h.ops.triggerRun('file_sensor', { actor: 'test', logicalDate });
      await waitFor(async () => (await ti(runId, 'arrived')).rescheduleCount >= 1, {
        what: 'the sensor to wait for the file',
      });
      await writeFile(join(inbox, '2026-05-04-sales.csv'), 'a,b\n');
      expect((await h.finishedRun(runId)).state).toBe('success');
      expect(await xcom(runId, 'arrived')).toEqual([join(inbox, '2026-05-04-sales.csv')]);
    });
  });
});

describe('condition rules', () => {
  const answer = (status: number, json: unknown) => ({ status, text: JSON.stringify(json), json });
  it.each([
    [answer(200, {}), undefined, true],
    [answer(404, {}), undefined, false],
    [answer(404, {}), { status: [404] }, true],
    [answer(200, { a: { b: 'x' } }), { field: 'a.b', equals: 'x' }, true],
    [answer(200, { a: { b: 'y' } }), { field: 'a.b', equals: 'x' }, false],
    [answer(200, { items: [{ ok: true }] }), { field: 'items.0.ok' }, true],
    [answer(200, { items: [] }), { field: 'items.0.ok' }, false],
    [answer(500, { state: 'ready' }), { field: 'state', equals: 'ready' }, false],
  ])('HTTP expect: %j with %j → %s', (a, expectation, met) => {
    expect(httpExpectMet(a, expectation)).toBe(met);
  });

  it.each([
    [null, false],
    [0, false],
    ['0', false],
    ['f', false],
    ['', false],
    [false, false],
    [1, true],
    ['t', true],
    [true, true],
    ['2026-01-01', true],
  ])('SQL first cell %j → %s', (cell, met) => {
    expect(truthyCell(cell)).toBe(met);
  });

  it.each([
    [true, { done: true }],
    [false, { done: false }],
    [
      { done: true, value: 3 },
      { done: true, value: 3 },
    ],
    [{ done: false }, { done: false, value: undefined }],
    [undefined, { done: false }],
    ['ready', { done: true, value: 'ready' }],
  ])('check answer %j → %j', (a, outcome) => {
    expect(checkAnswer(a)).toEqual(outcome);
  });
});

describe('the scheduler wakes up for due reschedules', () => {
  let h2: EngineHarness;
  afterAll(async () => {
    await h2?.close();
  });

  it('does not wait out a long loop interval between checks', async () => {
    h2 = await createEngineHarness('postgres');
    const counter = join(dir, 'wakeup.count');
    await h2.writeDag(
      'wakeup.ts',
      `
import { appendFileSync, readFileSync } from 'node:fs';
import { dag } from '@updraft/sdk';
export default dag({ id: 'wakeup', team: 'data-eng' }, (d) => {
  d.sensor.check('fourth_check', () => {
    appendFileSync(${JSON.stringify(counter)}, 'x');
    return readFileSync(${JSON.stringify(counter)}, 'utf8').length >= 4;
  }, { mode: 'reschedule', pokeInterval: 50 });
});
`,
    );
    await h2.processor.sync();
    // Three reschedules would take 3 × 5 s if the loop slept its whole interval each time.
    await h2.scheduler({ loopIntervalMs: 5000 }).start();
    await h2.worker().start();
    const started = Date.now();
    const { runId } = await h2.ops.triggerRun('wakeup', { actor: 'test' });
    expect((await h2.finishedRun(runId)).state).toBe('success');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
