// Restore records: Velero's restore files (logs, results, resource list) and Cairn's record of the
// Restore itself, under restores/<name>/ of a store. The record is written last and never rewritten, so a
// listed restore is a finished one (docs/restore.md, "Records").
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Restore } from '../api/index.ts';
import { ObjectExistsError, ObjectNotFoundError } from './errors.ts';
import { RESTORES_PREFIX, restoreKeys, restoreNameOfPrefix } from './layout.ts';
import type { ObjectStore, SignalOptions } from './object-store.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export class RestoreExistsError extends Error {
  override readonly name = 'RestoreExistsError';
  readonly restore: string;
  constructor(restore: string, options?: ErrorOptions) {
    super(`a restore named "${restore}" already exists`, options);
    this.restore = restore;
  }
}

export class RestoreNotFoundError extends Error {
  override readonly name = 'RestoreNotFoundError';
  readonly restore: string;
  constructor(restore: string) {
    super(`restore "${restore}" not found`);
    this.restore = restore;
  }
}

export interface RestoreFiles {
  /** Log lines, one per entry. */
  logs: string[];
  results: unknown;
  resourceList: Record<string, string[]>;
  /** Each restore hook's outcome; the file is written only when there are some. */
  hooks?: unknown[] | undefined;
}

export type RestoreFile = 'logs' | 'results' | 'resourceList' | 'hooks';

export class RestoreStore {
  readonly store: ObjectStore;

  constructor(store: ObjectStore) {
    this.store = store;
  }

  /** Whether a restore of this name was recorded (the record is what counts). */
  async exists(name: string, options: SignalOptions = {}): Promise<boolean> {
    return (await this.store.head(restoreKeys(name).metadata, options)) !== undefined;
  }

  /** Writes a finished restore: its files, then the record. Throws RestoreExistsError for a taken name. */
  async write(restore: Restore, files: RestoreFiles, options: SignalOptions = {}): Promise<void> {
    const keys = restoreKeys(restore.metadata.name);
    if (await this.exists(restore.metadata.name, options))
      throw new RestoreExistsError(restore.metadata.name);
    const put = async (key: string, body: Buffer) => {
      try {
        await this.store.put(key, body, { ...options, ifAbsent: true });
      } catch (error) {
        if (error instanceof ObjectExistsError)
          throw new RestoreExistsError(restore.metadata.name, { cause: error });
        throw error;
      }
    };
    await put(keys.logs, await gzipAsync(Buffer.from(files.logs.join('\n') + '\n')));
    await put(keys.results, await gzipAsync(Buffer.from(JSON.stringify(files.results))));
    await put(keys.resourceList, await gzipAsync(Buffer.from(JSON.stringify(files.resourceList))));
    if (files.hooks) await put(keys.hooks, await gzipAsync(Buffer.from(JSON.stringify(files.hooks))));
    await put(keys.metadata, Buffer.from(JSON.stringify(restore)));
  }

  async get(name: string, options: SignalOptions = {}): Promise<Restore | undefined> {
    try {
      const bytes = await buffer(await this.store.get(restoreKeys(name).metadata, options));
      return JSON.parse(bytes.toString('utf8')) as Restore;
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
  }

  /** Every recorded restore, by name. */
  async list(options: SignalOptions = {}): Promise<Restore[]> {
    const names: string[] = [];
    for await (const entry of this.store.list(RESTORES_PREFIX, { ...options, delimiter: '/' })) {
      const name = entry.type === 'prefix' ? restoreNameOfPrefix(entry.prefix) : undefined;
      if (name) names.push(name);
    }
    const restores: Restore[] = [];
    for (const name of names.sort()) {
      const restore = await this.get(name, options);
      if (restore) restores.push(restore);
    }
    return restores;
  }

  /** One of a restore's files, decompressed. */
  async readFile(name: string, file: RestoreFile, options: SignalOptions = {}): Promise<Buffer> {
    if (!(await this.exists(name, options))) throw new RestoreNotFoundError(name);
    return gunzipAsync(await buffer(await this.store.get(restoreKeys(name)[file], options)));
  }

  /** Deletes the record (first, so the restore stops being listed), then its files. */
  async delete(name: string, options: SignalOptions = {}): Promise<void> {
    const keys = restoreKeys(name);
    if (!(await this.exists(name, options))) throw new RestoreNotFoundError(name);
    await this.store.delete(keys.metadata, options);
    for await (const entry of this.store.list(keys.dir, options))
      if (entry.type === 'object') await this.store.delete(entry.key, options);
  }
}
