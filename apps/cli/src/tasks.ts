/** `updraft tasks run`: the entry point of task-runner pods. */
import { writeFile } from 'node:fs/promises';
import type { EnvironmentName } from '@updraft/core/environment';
import { createLogger, openEngine } from '@updraft/engine';
import { runFunctionTaskHere } from '@updraft/engine/in-pod';

export async function runTaskHere(opts: {
  taskInstanceId: number;
  tryNumber: number;
  databaseUrl: string | undefined;
  environment: EnvironmentName;
}): Promise<number> {
  if (!opts.databaseUrl) {
    process.stderr.write(
      'updraft tasks run: DATABASE_URL must be set (the task reads and writes XComs)\n',
    );
    return 2;
  }
  const logger = createLogger({
    level: 'warn',
    component: 'task-runner',
    environment: opts.environment,
  });
  const resources = await openEngine({
    databaseUrl: opts.databaseUrl,
    environment: opts.environment,
    logger,
    migrate: false,
    maxConnections: 2,
  });
  try {
    const result = await runFunctionTaskHere(resources, {
      taskInstanceId: opts.taskInstanceId,
      tryNumber: opts.tryNumber,
      log: (text) => process.stdout.write(text),
    });
    const path = process.env.UPDRAFT_RESULT_PATH;
    if (path && result !== undefined) await writeFile(path, JSON.stringify(result));
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await resources.database.close();
  }
}
