import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './testing.ts';

// postgres.js 3.4.9 buffers small writes behind setImmediate. When the server closed the
// connection first, that timer wrote to a null socket: an uncaught TypeError that killed the
// process (porsager/postgres#1154, #1208). A transaction hits it with its rollback, and CI saw it
// once in db-restart.test.ts. patches/postgres@3.4.9.patch fails such a write's queries instead.
describe('postgres.js when the server closes a connection in a transaction (patched driver)', () => {
  let t: TestDatabase;
  let admin: postgres.Sql;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    admin = postgres(t.url!, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin.end({ timeout: 5 });
    await t.drop();
  });

  it('rejects the transaction, then serves the next query and ends cleanly', async () => {
    const client = postgres(t.url!, { max: 1, onnotice: () => {} });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const transaction = client.begin(async (tx) => {
        const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        await admin`select pg_terminate_backend(${row!.pid})`;
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx`select 1`;
      });
      await expect(transaction).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      // Let the rollback's buffered write run: unpatched, this is where the process died.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(uncaught).toEqual([]);
      // The pool's only connection reconnects.
      const [one] = await client<{ n: number }[]>`select 1 as n`;
      expect(one!.n).toBe(1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    // A stale in-flight query used to keep end() waiting; with a timeout it would force-close.
    await expect(client.end()).resolves.toBeUndefined();
  });

  // The transaction is rejected as soon as its connection closes, while its callback may still
  // be running; the pool then reconnects that same connection for other work. A statement the
  // callback sends after that (and the rollback behind it) used to go to the reconnecting
  // connection: it failed the query the pool was reconnecting for, or wrote ahead of its start-up
  // message. CI saw the first once.
  it("keeps a dead transaction's late statements off the reconnected connection", async () => {
    const client = postgres(t.url!, { max: 1, onnotice: () => {} });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let late: unknown;
      const transaction = client.begin(async (tx) => {
        const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        await admin`select pg_terminate_backend(${row!.pid})`;
        await released;
        try {
          await tx`select 1`;
        } catch (error) {
          late = error;
          throw error;
        }
      });
      await expect(transaction).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      // The pool's only connection reconnects for this query; meanwhile the callback goes on.
      const next = client<{ n: number }[]>`select 2 as n`;
      release();
      const [row] = await next;
      expect(row!.n).toBe(2);
      expect(late).toMatchObject({ code: 'CONNECTION_CLOSED' });
      const [again] = await client<{ n: number }[]>`select 3 as n`;
      expect(again!.n).toBe(3);
    } finally {
      await client.end({ timeout: 5 });
    }
  });

  // postgres.js sends at most max_pipeline statements of a transaction before it waits for
  // answers, and keeps the rest in the transaction's own queue. When the connection closed, those
  // were never failed: a callback awaiting one of them waited forever (and kept its batch).
  it('fails the statements queued behind a full pipeline when the connection closes', async () => {
    // max_pipeline is an option of postgres.js that its types leave out.
    const client = postgres(t.url!, {
      max: 1,
      onnotice: () => {},
      ...({ max_pipeline: 2 } as object),
    });
    try {
      const outcomes: string[] = [];
      let queued: Promise<unknown>[] = [];
      const transaction = client.begin(async (tx) => {
        const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        // Two go out; three wait in the transaction's queue.
        queued = [tx`select pg_sleep(5)`, tx`select 1`, tx`select 2`, tx`select 3`, tx`select 4`];
        for (const [i, q] of queued.entries())
          q.then(
            () => outcomes.push(`${i}:ok`),
            (error: { code?: string }) => outcomes.push(`${i}:${error.code}`),
          );
        await admin`select pg_terminate_backend(${row!.pid})`;
        await Promise.all(queued);
      });
      await expect(transaction).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
      // Unpatched, the last three never settle.
      await Promise.race([
        Promise.allSettled(queued),
        new Promise((resolve) => setTimeout(resolve, 2_000)),
      ]);
      expect(outcomes.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${i}:CONNECTION_CLOSED`));
    } finally {
      await client.end({ timeout: 5 });
    }
  });
});
