/**
 * Loading DAG files: TypeScript/JavaScript modules (every exported Dag) and YAML files. Used by
 * the DAG processor's parse thread and by workers that run function tasks.
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Dag, isDag } from '@updraft/sdk';
import { dagFromYaml } from '@updraft/sdk/yaml';

export const DAG_FILE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.yaml', '.yml'] as const;

export function isDagFileName(name: string): boolean {
  if (name.startsWith('.') || name.startsWith('_')) return false;
  if (/\.(test|spec|d)\.[mc]?[jt]s$/.test(name)) return false;
  return (DAG_FILE_EXTENSIONS as readonly string[]).includes(extname(name));
}

export function hashSource(source: string | Buffer): string {
  return createHash('sha256').update(source).digest('hex');
}

export interface LoadedDagFile {
  fileloc: string;
  sourceHash: string;
  dags: Dag[];
}

/** The file on disk is not the content that was checked (see loadDagFile's `expectHash`). */
export class DagFileChanged extends Error {}

/**
 * Loads every DAG a file defines. Throws (with the file named) if the file cannot be loaded.
 * With `expectHash`, a file whose content is not that one is not imported (DagFileChanged).
 */
export async function loadDagFile(fileloc: string, expectHash?: string): Promise<LoadedDagFile> {
  const source = await readFile(fileloc);
  const sourceHash = hashSource(source);
  if (expectHash !== undefined && sourceHash !== expectHash)
    throw new DagFileChanged(`${fileloc} changed while it was being loaded`);
  const ext = extname(fileloc);
  if (ext === '.yaml' || ext === '.yml') {
    return { fileloc, sourceHash, dags: [dagFromYaml(source.toString('utf8'), fileloc)] };
  }
  // The hash in the URL gives each content version its own module instance.
  const mod = (await import(
    `${pathToFileURL(fileloc).href}?v=${sourceHash.slice(0, 16)}`
  )) as Record<string, unknown>;
  const dags = Object.values(mod).filter(isDag);
  const unique = [...new Set(dags)];
  return { fileloc, sourceHash, dags: unique };
}

export interface FileStamp {
  mtimeMs: number;
  size: number;
}

/** DAG files under a folder (recursively, skipping node_modules and dot folders). */
export async function findDagFiles(folder: string): Promise<Map<string, FileStamp>> {
  const found = new Map<string, FileStamp>();
  const walk = async (dir: string) => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && !entry.name.startsWith('.')) await walk(path);
      } else if (entry.isFile() && isDagFileName(entry.name)) {
        const s = await stat(path);
        found.set(path, { mtimeMs: s.mtimeMs, size: s.size });
      }
    }
  };
  await walk(folder);
  return found;
}
