import { connect } from 'node:net';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorResponse } from './errors.ts';
import { serveApp } from './serve.ts';
import { jsonBody } from './validate.ts';

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
  it('takes a body the client aborted (a broken chunked upload) for a client error, not ours', async () => {
    const logged: { level: number; msg: string }[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => logged.push(JSON.parse(line)) },
    );
    // As the API is composed: the body limit reads a chunked body before the handler does.
    const app = new Hono();
    app.use('*', bodyLimit({ maxSize: 1024 }));
    app.post('/x', async (c) => c.json(await jsonBody(c, z.object({ name: z.string() }))));
    app.onError((e, c) => errorResponse(e, c, logger));
    const server = await serveApp(app, { port: 0, hostname: '127.0.0.1' });
    try {
      const socket = connect(server.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'POST /x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"nam\r\nZZ\r\n',
      );
      // Node answers the broken chunk and closes the connection.
      socket.resume();
      await new Promise((resolve) => socket.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await server.close();
    }
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      [30, 'the client closed the request mid-body'],
    ]);
  });

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
