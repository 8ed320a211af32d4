/**
 * Callbacks: the trigger rules as a table; then on real PostgreSQL, function and webhook callbacks
 * written in the same transaction as the change, run by the worker, retried, recorded — a failing
 * callback changes no state, and a filled-in secret never reaches the recorded error.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rowsOf } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackEventOf } from './callbacks.ts';
import { createEngineHarness, type EngineHarness, waitFor } from './testing.ts';

describe('which state changes trigger callbacks', () => {
  const cases: [
    entity: 'task_instance' | 'dag_run',
    from: string,
    to: string,
    expected: string | null,
  ][] = [
    ['task_instance', 'running', 'success', 'task:success'],
    ['task_instance', 'running', 'failed', 'task:failure'],
    ['task_instance', 'running', 'up_for_retry', 'task:retry'],
    ['task_instance', 'running', 'skipped', 'task:skipped'],
    // The task never ran: no callback of its own (Airflow 3).
    ['task_instance', 'none', 'upstream_failed', null],
    ['task_instance', 'scheduled', 'skipped', null],
    ['task_instance', 'none', 'skipped', null],
    ['task_instance', 'success', 'failed', null],
    ['task_instance', 'running', 'restarting', null],
    ['task_instance', 'running', 'up_for_reschedule', null],
    ['task_instance', 'scheduled', 'queued', null],
    ['dag_run', 'running', 'success', 'dag:success'],
    ['dag_run', 'running', 'failed', 'dag:failure'],
    ['dag_run', 'queued', 'failed', 'dag:failure'],
    // A finished run changed by a manual mark: not a new outcome of the run.
    ['dag_run', 'success', 'failed', null],
    ['dag_run', 'queued', 'running', null],
  ];
  it.each(cases)('%s %s → %s: %s', (entity, from, to, expected) => {
    const rule = callbackEventOf({ entity, from, to });
    expect(rule ? `${rule.scope}:${rule.event}` : null).toBe(expected);
  });
});

const TOKEN = 'sekrit-token-4711';

const dagSource = (port: number) => `
import { dag, NonRetryableError, webhook } from '@updraft/sdk';
const g = globalThis as any;
const record = (ctx: any) => { (g.__callbacks ??= []).push(ctx); };
export default dag({
  id: 'cbs', team: 'data-eng', params: { region: 'emea' },
  onSuccess: record,
  onFailure: [
    record,
    webhook({ url: 'http://127.0.0.1:${port}/hook?t=\${CB_TOKEN}', headers: { authorization: 'Bearer \${CB_TOKEN}' } }),
    () => { throw new Error('this callback always fails'); },
  ],
  defaults: { onFailure: record, onRetry: record },
}, (d) => {
  d.fn('ok', () => 1, { onSuccess: record });
  d.fn('flaky', (ctx) => { if (ctx.tryNumber < 2) throw new Error('first try fails'); return 2; }, { retries: 1, retryDelay: 0 });
  const bad = d.fn('bad', () => { throw new NonRetryableError('boom'); });
  d.fn('after', () => 3, { upstream: [bad] });
});
`;

describe('callbacks end to end (postgres)', () => {
  let h: EngineHarness;
  let server: Server;
  const hooks: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        hooks.push({ url: req.url ?? '', headers: req.headers, body });
        // The first call fails, echoing the secret header: the recorded error must not show it.
        if (hooks.length === 1) {
          res.writeHead(500).end(`bad gateway for ${req.headers.authorization}`);
        } else {
          res.writeHead(204).end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    h = await createEngineHarness('postgres');
    await h.writeDag('cbs.ts', dagSource((server.address() as AddressInfo).port));
    await h.processor.sync();
    await h.scheduler().start();
    await h
      .worker({
        callbacks: {
          env: { CB_TOKEN: TOKEN },
          pollIntervalMs: 50,
          backoffMs: 20,
          maxAttempts: 2,
        },
      })
      .start();
  });
  afterAll(async () => {
    await h?.close();
    server?.close();
  });

  it('writes, runs, retries and records each callback; a failing one changes nothing', async () => {
    const { runId } = await h.ops.triggerRun('cbs', { actor: 'test', conf: { batch: 7 } });
    const run = await h.finishedRun(runId);
    expect(run.state).toBe('failed');
    type Row = {
      scope: string;
      event: string;
      task_id: string | null;
      try_number: number | null;
      state: string;
      attempts: number;
      error: string | null;
      payload: { callback: { kind: string } };
    };
    const rows = await waitFor(
      async () => {
        const all = rowsOf<Row>(
          await h.resources.database.db.execute(sql`select scope, event, task_id, try_number, state,
            attempts, error, payload from callback_requests order by id`),
        );
        return all.length > 0 && all.every((r) => r.state === 'success' || r.state === 'failed')
          ? all
          : null;
      },
      { what: 'every callback to have run' },
    );
    const summary = rows
      .map(
        (r) =>
          `${r.scope}:${r.event}:${r.task_id ?? '-'}:${r.try_number ?? '-'}:${r.payload.callback.kind}:${r.state}:${r.attempts}`,
      )
      .sort();
    expect(summary).toEqual(
      [
        'task:success:ok:1:function:success:1',
        'task:retry:flaky:1:function:success:1',
        'task:failure:bad:1:function:success:1',
        // 'after' is upstream_failed: it never ran, so no callback (Airflow 3).
        'dag:failure:-:-:function:success:1',
        'dag:failure:-:-:http:success:2',
        'dag:failure:-:-:function:failed:2',
      ].sort(),
    );
    const failing = rows.find((r) => r.state === 'failed')!;
    expect(failing.error).toContain('this callback always fails');

    // The webhook got the context as JSON with the token filled in; the first (failed) attempt's
    // error, echoing it, was redacted before it was recorded.
    expect(hooks).toHaveLength(2);
    expect(hooks[1]!.url).toBe(`/hook?t=${TOKEN}`);
    expect(hooks[1]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(hooks[1]!.body)).toMatchObject({
      event: 'failure',
      dagId: 'cbs',
      runId,
      taskId: null,
      state: 'failed',
      params: { region: 'emea', batch: 7 },
    });
    const history = rowsOf<{ error: string | null }>(
      await h.resources.database.db.execute(
        sql`select error from callback_requests where payload->'callback'->>'kind' = 'http'`,
      ),
    );
    expect(history[0]!.error).toContain('answered 500: bad gateway for Bearer ***');
    expect(history[0]!.error).not.toContain(TOKEN);

    // Function callbacks received the context (no secrets: only run and task facts and params).
    const seen = (globalThis as { __callbacks?: Record<string, unknown>[] }).__callbacks ?? [];
    const bad = seen.find((c) => c.taskId === 'bad');
    expect(bad).toMatchObject({
      event: 'failure',
      dagId: 'cbs',
      runId,
      taskId: 'bad',
      mapIndex: -1,
      tryNumber: 1,
      state: 'failed',
      reason: 'boom',
      params: { region: 'emea', batch: 7 },
    });
    expect(JSON.stringify(seen)).not.toContain(TOKEN);

    // The run stayed failed and its tasks kept their states whatever the callbacks did.
    const tis = rowsOf<{ task_id: string; state: string }>(
      await h.resources.database.db.execute(
        sql`select task_id, state from task_instances where run_id = ${runId} order by task_id`,
      ),
    );
    expect(Object.fromEntries(tis.map((t) => [t.task_id, t.state]))).toEqual({
      after: 'upstream_failed',
      bad: 'failed',
      flaky: 'success',
      ok: 'success',
    });
  });

  it('records an http failure without the secret', async () => {
    const rows = rowsOf<{ error: string | null }>(
      await h.resources.database.db.execute(sql`select error from callback_requests`),
    );
    expect(JSON.stringify(rows)).not.toContain(TOKEN);
  });
});

describe('callbacks of a zombie (postgres)', () => {
  let h: EngineHarness;

  beforeAll(async () => {
    h = await createEngineHarness('postgres');
    await h.writeDag(
      'zombie.ts',
      `import { dag } from '@updraft/sdk';
const noop = () => {};
export default dag({ id: 'zombie', team: 'data-eng', onFailure: noop }, (d) => {
  d.shell('lost', { command: 'true', onFailure: noop, onRetry: noop });
});
`,
    );
    await h.processor.sync();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('requests the task’s onFailure and the run’s onFailure in the reaping transaction', async () => {
    const { runId } = await h.ops.triggerRun('zombie', { actor: 'test' });
    const { db } = h.resources.database;
    // A worker claimed it, then vanished: no heartbeat for an hour.
    await db.execute(sql`update task_instances set state = 'running', worker_id = 'ghost',
      try_number = 1, start_date = now(), heartbeat_at = now() - interval '1 hour'
      where run_id = ${runId} and state = 'queued'`);
    await h.scheduler({ zombieThresholdMs: 1000 }).runOnce();
    const rows = rowsOf<{ scope: string; event: string; task_id: string | null }>(
      await db.execute(sql`select scope, event, task_id from callback_requests order by id`),
    );
    expect(rows).toEqual([
      { scope: 'task', event: 'failure', task_id: 'lost' },
      { scope: 'dag', event: 'failure', task_id: null },
    ]);
  });
});
