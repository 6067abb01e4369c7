// The storage a repository sits on: whole files by type and name, written once, read whole or by range,
// listed by type, removed. restic's layout lives here and only here: `config`, `data/<2 hex>/<id>`,
// `<type>/<id>` for the rest. Implementations: MemoryBackend (the reference), LocalBackend (a directory
// restic itself can open); an adapter over the object stores lives in a higher layer.
// test/conformance/repo-backend.ts pins the contract.
import type { SignalOptions } from './environment.ts';
import { InvalidHandleError } from './errors.ts';

export type FileType = 'config' | 'keys' | 'data' | 'index' | 'snapshots' | 'locks';

/** The directories of a repository, in restic's order. */
export const FILE_TYPES: readonly FileType[] = ['data', 'index', 'keys', 'locks', 'snapshots'];

/** A file in a repository. The config's name is ignored (there is one config, at `config`). */
export interface Handle {
  type: FileType;
  name: string;
}

export interface FileInfo {
  name: string;
  size: number;
}

export interface LoadOptions extends SignalOptions {
  /** Where to start reading. Default 0. */
  offset?: number | undefined;
  /** How many bytes to read; ShortFileError if the file ends first. Default: to the end. */
  length?: number | undefined;
  /**
   * A buffer the caller lends for the bytes, at least `length` long: the result may then be a view of it
   * from its start (a restore uses its buffers again instead of making new ones for every range). A
   * backend may ignore it; the caller tells by the result's memory.
   */
  into?: Buffer | undefined;
}

/**
 * Files of a repository. Every method rejects with the signal's reason once its signal aborts.
 * Readers never see a partial file.
 */
export interface Backend {
  /** Where the repository is, for messages. Never holds secrets. */
  readonly description: string;
  /** Stores a new file; FileExistsError (changing nothing) when it exists. */
  save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void>;
  /** The file's bytes, or a range of them; FileNotFoundError when it is missing. */
  load(handle: Handle, options?: LoadOptions): Promise<Buffer>;
  /** The file's size, or undefined when it is missing. */
  stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined>;
  /** The files of a type, in no particular order. The config is not listed. */
  list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncIterable<FileInfo>;
  /** Removes the file; removing a missing file is not an error. */
  remove(handle: Handle, options?: SignalOptions): Promise<void>;
  /** Prepares an empty repository where the storage needs it (restic's directories); optional. */
  create?(options?: SignalOptions): Promise<void>;
}

/** The file's path relative to the repository root, `/`-separated, as restic lays it out. */
export function handlePath(handle: Handle): string {
  checkHandle(handle);
  if (handle.type === 'config') return 'config';
  if (handle.type === 'data') return `data/${handle.name.slice(0, 2)}/${handle.name}`;
  return `${handle.type}/${handle.name}`;
}

/** Throws InvalidHandleError for a name no layout can hold. */
export function checkHandle(handle: Handle): void {
  if (handle.type === 'config') return;
  const { type, name } = handle;
  if (name === '' || name === '.' || name === '..')
    throw new InvalidHandleError(type, name, 'not a file name');
  if (/[/\\\0]/.test(name))
    throw new InvalidHandleError(type, name, 'names may not contain "/", "\\" or NUL');
  if (type === 'data' && name.length < 3)
    throw new InvalidHandleError(type, name, 'pack names are at least 3 characters long');
}

/** The range `options` asks for within a file of `size` bytes, or undefined when it runs past the end. */
export function rangeOf(
  size: number,
  options: LoadOptions | undefined,
): { start: number; end: number } | undefined {
  const start = options?.offset ?? 0;
  const end = options?.length === undefined ? size : start + options.length;
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`invalid offset ${start}`);
  if (!Number.isSafeInteger(end) || end < start) throw new RangeError(`invalid length ${options?.length}`);
  return end > size || start > size ? undefined : { start, end };
}
