/** Reading and writing XComs, shared by the worker and by tasks running in their own pod. */
import { type Queryable, rowsOf, schema } from '@updraft/db';
import { sql } from 'drizzle-orm';
import { TaskFailure } from './executors/types.ts';

export async function readXcom(
  db: Queryable,
  runPk: number,
  taskId: string,
  key: string,
): Promise<unknown> {
  // Read as text and parse once: drivers disagree on decoding jsonb strings that look like JSON.
  const [row] = rowsOf<{ value: string }>(
    await db.execute(sql`select value::text as value from xcoms
      where dag_run_id = ${runPk} and task_id = ${taskId} and key = ${key} and map_index = -1`),
  );
  return row ? JSON.parse(row.value) : undefined;
}

export async function writeXcom(
  db: Queryable,
  ti: { id: number; runPk: number; taskId: string; mapIndex: number },
  key: string,
  value: unknown,
  maxBytes: number,
): Promise<void> {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (size > maxBytes) {
    throw new TaskFailure(`XCom "${key}" is ${size} bytes; the limit is ${maxBytes} bytes`, {
      retryable: false,
    });
  }
  await db
    .insert(schema.xcoms)
    .values({
      taskInstanceId: ti.id,
      dagRunId: ti.runPk,
      taskId: ti.taskId,
      mapIndex: ti.mapIndex,
      key,
      value: value as never,
    })
    .onConflictDoUpdate({
      target: [schema.xcoms.taskInstanceId, schema.xcoms.key],
      set: { value: value as never },
    });
}
