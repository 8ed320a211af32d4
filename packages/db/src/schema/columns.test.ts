import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../index.ts';
import { createTestDatabase, TEST_DATABASE_KINDS, type TestDatabase } from '../testing.ts';
import { events } from './event.ts';

// Values a task may return as its XCom: top-level strings are the case Drizzle's own jsonb broke.
const VALUES: [string, unknown][] = [
  ['a string that looks like a number', '21'],
  ['a string that looks like an object', '{"a":1}'],
  ['a plain string', 'hello'],
  ['a number', 21],
  ['a boolean', false],
  ['null', null],
  ['an array', [1, 'two', { three: 3 }]],
  ['an object', { nested: { list: ['x'] }, n: 1.5 }],
];

describe.each(TEST_DATABASE_KINDS)('jsonb columns decode once (%s)', (kind) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(kind);
  });
  afterAll(async () => {
    await t.drop();
  });

  it.each(VALUES)('round-trips %s', async (_name, value) => {
    const { db } = t.handle;
    const [row] = await db
      .insert(events)
      .values({ entity: 'dag', dagId: 'd', actor: 'test', details: value })
      .returning({ id: events.id });
    const [read] = await db.select().from(events).where(eq(events.id, row!.id));
    expect(read!.details).toEqual(value);
    // What PostgreSQL stored is the JSON of the value, not the JSON of its JSON.
    const [raw] = rowsOf<{ text: string }>(
      await db.execute(sql`select details::text as text from events where id = ${row!.id}`),
    );
    expect(JSON.parse(raw!.text)).toEqual(value);
  });
});
