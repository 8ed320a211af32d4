/**
 * Runs one function task instance in this process, for `updraft tasks run` inside a task-runner
 * pod: loads the run, the DAG version and the DAG file, runs the function with the same context a
 * worker gives it (XCom through the database) and returns its result. The worker that launched the
 * pod records the outcome; this writes nothing but the task's own XComs.
 */
import { templateContext } from '@updraft/core/template';
import { schema } from '@updraft/db';
import { eq } from 'drizzle-orm';
import { mappedItemFields } from '../mapping.ts';
import type { EngineResources } from '../resources.ts';
import { VersionCache } from '../versions.ts';
import { createFunctionExecutor, DagFileCache } from './executors/function.ts';
import { TaskFailure } from './executors/types.ts';
import { readXcom, writeXcom } from './xcom.ts';

export async function runFunctionTaskHere(
  r: EngineResources,
  opts: {
    taskInstanceId: number;
    tryNumber: number;
    log: (text: string) => void;
    maxResultBytes?: number;
  },
): Promise<unknown> {
  const { db } = r.database;
  const [ti] = await db
    .select()
    .from(schema.taskInstances)
    .where(eq(schema.taskInstances.id, opts.taskInstanceId));
  if (!ti)
    throw new TaskFailure(`task instance ${opts.taskInstanceId} does not exist`, {
      retryable: false,
    });
  const [run] = await db.select().from(schema.dagRuns).where(eq(schema.dagRuns.id, ti.dagRunId));
  if (!run)
    throw new TaskFailure(`the run of task instance ${opts.taskInstanceId} does not exist`, {
      retryable: false,
    });
  const version = await new VersionCache(1).get(db, run.dagVersionId);
  const task = version.tasks.get(ti.taskId);
  if (task?.type !== 'function') {
    throw new TaskFailure(`task "${ti.taskId}" is not a function task`, { retryable: false });
  }
  const execute = createFunctionExecutor(new DagFileCache());
  const { result } = await execute({
    run: {
      runPk: run.id,
      dagId: run.dagId,
      runId: run.runId,
      logicalDate: run.logicalDate,
      dataIntervalStart: run.dataIntervalStart,
      dataIntervalEnd: run.dataIntervalEnd,
      conf: run.conf,
    },
    taskInstanceId: ti.id,
    taskId: ti.taskId,
    mapIndex: ti.mapIndex,
    tryNumber: opts.tryNumber,
    resumed: false,
    carried: null,
    rescheduleCount: 0,
    firstStartedAt: new Date(),
    firstTryStartedAt: new Date(),
    task,
    version,
    template: {
      ...templateContext({
        dagId: run.dagId,
        runId: run.runId,
        taskId: ti.taskId,
        tryNumber: opts.tryNumber,
        logicalDate: run.logicalDate,
        dataIntervalStart: run.dataIntervalStart,
        dataIntervalEnd: run.dataIntervalEnd,
        params: version.spec.params,
        conf: run.conf,
      }),
      ...(await mappedItemFields(db, run.id, run.dagId, task, ti.mapIndex)),
    },
    signal: new AbortController().signal,
    log: opts.log,
    pullXcom: (taskId, key) => readXcom(db, run.id, taskId, key),
    pushXcom: (key, value) =>
      writeXcom(
        db,
        { id: ti.id, runPk: run.id, taskId: ti.taskId, mapIndex: ti.mapIndex },
        key,
        value,
        opts.maxResultBytes ?? 48 * 1024,
      ),
  });
  return result;
}
