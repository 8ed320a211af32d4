import { migrateDatabase, openDatabase } from '@updraft/db';
import { redactUrl } from '@updraft/engine';

export async function dbMigrate(opts: {
  databaseUrl: string | undefined;
  dataDir: string;
}): Promise<void> {
  const handle = await openDatabase({
    url: opts.databaseUrl,
    dataDir: opts.dataDir,
    applicationName: 'updraft-migrate',
  });
  try {
    await migrateDatabase(handle);
    process.stdout.write(
      `migrations applied to ${opts.databaseUrl ? redactUrl(opts.databaseUrl) : `PGlite at ${opts.dataDir}`}\n`,
    );
  } finally {
    await handle.close();
  }
}
