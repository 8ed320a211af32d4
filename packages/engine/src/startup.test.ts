/**
 * An app started before its PostgreSQL answers waits for it (logging why, without the password)
 * instead of dying; it gives up after its wait with a clear error, and at once on what waiting
 * cannot fix. A TCP relay that starts listening late stands in for a database coming up.
 */
import { createServer, type Server, Socket } from 'node:net';
import { createTestDatabase, type TestDatabase } from '@updraft/db/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from './bootstrap.ts';

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Relays connections on `port` to PostgreSQL at `target`. */
async function relay(port: number, target: URL): Promise<Server> {
  const server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('start-up before the database answers (postgres)', () => {
  let t: TestDatabase;
  let target: URL;
  const servers: Server[] = [];
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    target = new URL(t.url!);
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await t?.drop();
  });

  const capture = () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    return { lines, logger };
  };

  /** The test database through `port`, with a password (ignored by trust auth) to look for. */
  const viaPort = (port: number, database = target.pathname.slice(1)) =>
    `postgres://${target.username || 'postgres'}:s3cret-pw@127.0.0.1:${port}/${database}`;

  it('waits for a database that comes up later, logging each wait without the password', async () => {
    const port = await freePort();
    const { lines, logger } = capture();
    setTimeout(() => {
      relay(port, target).then((s) => servers.push(s));
    }, 1_200);
    const resources = await openEngine({
      databaseUrl: viaPort(port),
      environment: 'local',
      logger,
      migrate: false,
      startupWaitMs: 30_000,
    });
    try {
      const waits = lines
        .map((l) => JSON.parse(l))
        .filter((l) => l.msg === 'waiting for the database');
      expect(waits.length).toBeGreaterThan(0);
      expect(waits[0]).toMatchObject({ level: 40, retryInMs: 250 });
      expect(waits[0].database).toBe(viaPort(port).replace('s3cret-pw', '***'));
      expect(waits[0].reason).toMatch(/ECONNREFUSED/);
      expect(lines.join('\n')).not.toContain('s3cret-pw');
    } finally {
      await resources.database.close();
    }
  });

  it('gives up after its wait, naming the database without the password', async () => {
    const port = await freePort();
    const { lines, logger } = capture();
    const opening = openEngine({
      databaseUrl: viaPort(port),
      environment: 'local',
      logger,
      migrate: false,
      startupWaitMs: 1_000,
    });
    await expect(opening).rejects.toThrow(
      new RegExp(
        `cannot open the database \\(postgres://postgres:\\*\\*\\*@127\\.0\\.0\\.1:${port}/[a-z0-9_]+\\): the database did not answer within 1 s: .*ECONNREFUSED`,
      ),
    );
    expect(lines.join('\n')).not.toContain('s3cret-pw');
  });

  it('fails at once when the database does not exist: waiting would not help', async () => {
    const { logger } = capture();
    const started = Date.now();
    await expect(
      openEngine({
        databaseUrl: viaPort(Number(target.port || 5432), 'no_such_database_here'),
        environment: 'local',
        logger,
        migrate: false,
        startupWaitMs: 60_000,
      }),
    ).rejects.toThrow(
      /the database did not answer: database "no_such_database_here" does not exist/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
