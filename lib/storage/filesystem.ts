/**
 * ObjectStore on a local directory: the embedded default. Each object is one file under `root`, its
 * key used as the relative path. A put writes a temporary file, flushes it to disk, renames it into
 * place and flushes the directory, so a reader sees either no object or the whole object, and an
 * acknowledged put survives a crash of the machine. Temporary files start with `.tmp-` and are never
 * listed.
 */
import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SpoolError } from '../errors.js';
import { ObjectNotFoundError } from './ports.js';
import type { ByteRange, ObjectInfo, ObjectStore } from './ports.js';

export class FileObjectStore implements ObjectStore {
  readonly url: string;

  constructor(readonly root: string) {
    this.url = pathToFileURL(root).href;
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    const created = await mkdir(dirname(path), { recursive: true });
    if (created !== undefined) await syncDirectory(dirname(created)); // the new directory's entry is durable
    const temporary = join(dirname(path), `.tmp-${randomUUID()}`);
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(body);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    await syncDirectory(dirname(path)); // the rename is durable
  }

  async get(key: string, range?: ByteRange): Promise<Buffer> {
    let file: FileHandle;
    try {
      file = await open(this.pathOf(key), 'r');
    } catch (error) {
      if (isMissing(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
    try {
      if (range === undefined) return await file.readFile();
      const buffer = Buffer.allocUnsafe(range.length);
      const { bytesRead } = await file.read(buffer, 0, range.length, range.offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return { key, sizeBytes: info.size, lastModifiedMs: info.mtimeMs };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk only the directories that can hold keys with this prefix.
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? this.root : this.pathOf(prefix.slice(0, slash));
    for (const path of (await walk(start)).sort()) {
      const key = relative(this.root, path).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const info = await this.head(key);
      if (info) yield info;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((key) => rm(this.pathOf(key), { force: true })));
  }

  async ensureReady(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async close(): Promise<void> {}

  private pathOf(key: string): string {
    if (key === '' || key.split('/').some((part) => part === '' || part === '.' || part === '..' || part.startsWith('.tmp-'))) {
      throw new SpoolError(
        'INVALID_ARGUMENT',
        `object keys are non-empty /-separated names without . or .. parts, got ${JSON.stringify(key)}`,
      );
    }
    return join(this.root, ...key.split('/'));
  }
}

async function walk(directory: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
  const nested = await Promise.all(
    entries.map(async (entry) => {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) return walk(path);
      return entry.name.startsWith('.tmp-') ? [] : [path];
    }),
  );
  return nested.flat();
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}
