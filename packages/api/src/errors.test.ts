import { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { errorResponse } from './errors.ts';

/** An app whose one route throws `error`, answered by errorResponse. */
function throwing(error: unknown) {
  const logged: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logged.push(JSON.parse(line)) },
  );
  const app = new Hono();
  app.get('/x', () => {
    throw error;
  });
  app.onError((e, c) => errorResponse(e, c, logger));
  return { app, logged };
}

/** What Drizzle throws for a failed query: PostgreSQL's error as the cause. */
function failedQuery(code: string, message: string) {
  return new Error('Failed query: select 1', {
    cause: Object.assign(new Error(message), { code }),
  });
}

describe('errorResponse', () => {
  it('answers a value PostgreSQL refused as data with a 400 giving its reason, and warns', async () => {
    const { app, logged } = throwing(
      failedQuery('22003', 'value "2147483648" is out of range for type integer'),
    );
    const res = await app.request('/x');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid',
      message: 'invalid value: value "2147483648" is out of range for type integer',
    });
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      [40, 'the database refused a value of the request'],
    ]);
  });

  it('answers a deadlock left after the retries with a 503 and Retry-After', async () => {
    const { app } = throwing(failedQuery('40P01', 'deadlock detected'));
    const res = await app.request('/x');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ error: 'busy' });
  });

  it("keeps other data errors (not the request's values) 500s", async () => {
    const { app } = throwing(failedQuery('22012', 'division by zero'));
    expect((await app.request('/x')).status).toBe(500);
  });

  it('answers anything else unexpected with a 500 that reveals nothing, and logs an error', async () => {
    const { app, logged } = throwing(
      failedQuery('42P01', 'relation "secret_table" does not exist'),
    );
    const res = await app.request('/x');
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain('secret_table');
    expect(logged.map((l) => l.level)).toEqual([50]);
  });
});
