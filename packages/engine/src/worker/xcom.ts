/** Reading and writing XComs, shared by the worker and by tasks running in their own pod. */
import { type Queryable, schema } from '@updraft/db';
import { readTaskResult } from '../mapping.ts';
import { TaskFailure } from './executors/types.ts';

/** A task's XCom in a run; for a mapped task, the list of its instances' values by map index. */
export async function readXcom(
  db: Queryable,
  runPk: number,
  taskId: string,
  key: string,
): Promise<unknown> {
  return readTaskResult(db, runPk, taskId, key);
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
