/**
 * Creates a new embedded database in the directory given, with the migrations applied, and
 * exits: run as a child process by openDatabase (createPgliteInChild in index.ts), so the memory
 * that creating it grows goes away with the process.
 */
import { migrateDatabase, openDatabase } from './index.ts';

const [dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: create-pglite.ts <data directory>');
const handle = await openDatabase({ dataDir, createInProcess: true });
try {
  await migrateDatabase(handle);
} finally {
  await handle.close();
}
