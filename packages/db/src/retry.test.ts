/**
 * retryTransient on real PostgreSQL: two transactions that take two locks in opposite orders
 * deadlock; PostgreSQL aborts one, which runs again and both commit.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseError, retryTransient, rowsOf } from './index.ts';
import { createTestDatabase, type TestDatabase } from './testing.ts';

describe('retryTransient (postgres)', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('postgres');
    await t.handle.db.execute(sql`create table done (who text)`);
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** Takes lock `first`, waits until the other has taken its own, then takes `second`. */
  const crossing = (who: string, first: number, second: number, barrier: Promise<void>[]) => {
    let attempts = 0;
    const work = () =>
      t.handle.db.transaction(async (tx) => {
        attempts++;
        await tx.execute(sql`select pg_advisory_xact_lock(${first})`);
        if (attempts === 1) await Promise.all(barrier);
        await tx.execute(sql`select pg_advisory_xact_lock(${second})`);
        await tx.execute(sql`insert into done values (${who})`);
      });
    return { work, attempts: () => attempts };
  };

  it('runs a transaction that lost a deadlock again, so both commit', async () => {
    let releaseA!: () => void;
    let releaseB!: () => void;
    const aLocked = new Promise<void>((r) => (releaseA = r));
    const bLocked = new Promise<void>((r) => (releaseB = r));
    // Each signals once it holds its first lock (by the time its first statement returned).
    const a = crossing('a', 1, 2, [bLocked]);
    const b = crossing('b', 2, 1, [aLocked]);
    const runA = retryTransient(async () => {
      const p = a.work();
      setTimeout(releaseA, 50);
      return p;
    });
    const runB = retryTransient(async () => {
      const p = b.work();
      setTimeout(releaseB, 50);
      return p;
    });
    await Promise.all([runA, runB]);
    const rows = rowsOf<{ who: string }>(
      await t.handle.db.execute(sql`select who from done order by who`),
    );
    expect(rows.map((r) => r.who)).toEqual(['a', 'b']);
    // One of them deadlocked and ran twice.
    expect(a.attempts() + b.attempts()).toBe(3);
  });

  it('does not retry other errors, and gives up after the attempts it is given', async () => {
    let calls = 0;
    const failing = retryTransient(async () => {
      calls++;
      await t.handle.db.execute(sql`select * from no_such_table`);
    });
    await expect(failing).rejects.toThrow();
    expect(calls).toBe(1);
    calls = 0;
    const deadlocking = retryTransient(async () => {
      calls++;
      throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
    }, 2);
    await expect(deadlocking).rejects.toThrow('deadlock detected');
    expect(calls).toBe(2);
    expect(databaseError(await deadlocking.catch((e) => e)).code).toBe('40P01');
  });
});

describe('databaseError', () => {
  it('gives the SQLSTATE under a wrapper, else the innermost message, an AggregateError’s parts joined', () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    // What connecting to a name that resolves to ::1 and 127.0.0.1 throws when both refuse.
    const both = new AggregateError([refused('::1:5432'), refused('127.0.0.1:5432')], '');
    expect(databaseError(new Error('Failed query: select 1', { cause: both }))).toEqual({
      code: undefined,
      message: 'connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
    });
    const pg = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    expect(databaseError(new Error('Failed query', { cause: pg }))).toEqual({
      code: '40P01',
      message: 'deadlock detected',
    });
  });
});
