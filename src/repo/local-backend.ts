// A repository in a local directory, laid out exactly as restic's local backend lays it out, so
// `restic -r <dir>` reads what Cairn writes and the other way round. Writes are atomic and write-once:
// a temporary file `<name>-tmp-<random>` beside the target (restic's naming, which restic skips when
// listing), fsynced, then hard-linked to its name (which fails when the name exists) and unlinked.
// Modes are restic's: directories 0700 and files 0600 made read-only (0400); when the config is
// group-readable, 0770 and 0660 (0440) instead.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  FILE_TYPES,
  handlePath,
  rangeOf,
  type Backend,
  type FileInfo,
  type FileType,
  type Handle,
  type LoadOptions,
} from './backend.ts';
import type { SignalOptions } from './environment.ts';
import { FileExistsError, FileNotFoundError, ShortFileError } from './errors.ts';

export interface LocalBackendOptions {
  /** The repository's directory. */
  root: string;
}

interface Modes {
  dir: number;
  file: number;
}

const DEFAULT_MODES: Modes = { dir: 0o700, file: 0o600 };

export class LocalBackend implements Backend {
  readonly description: string;
  readonly root: string;
  #modes: Modes | undefined;

  constructor(options: LocalBackendOptions) {
    this.root = options.root;
    this.description = `local:${options.root}`;
  }

  /** Makes restic's directories of an empty repository: data/00 … data/ff, index, keys, locks, snapshots. */
  async create(options?: SignalOptions): Promise<void> {
    const modes = await this.#currentModes();
    for (const type of FILE_TYPES) {
      options?.signal?.throwIfAborted();
      await mkdir(join(this.root, type), { recursive: true, mode: modes.dir });
    }
    for (let i = 0; i < 256; i++) {
      const sub = i.toString(16).padStart(2, '0');
      await mkdir(join(this.root, 'data', sub), { recursive: true, mode: modes.dir });
    }
  }

  async save(handle: Handle, bytes: Buffer, options?: SignalOptions): Promise<void> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const relative = handlePath(handle);
    const target = join(this.root, relative);
    const dir = dirname(target);
    const modes = await this.#currentModes();
    await mkdir(dir, { recursive: true, mode: modes.dir });
    const temp = `${target}-tmp-${randomBytes(8).toString('hex')}`;
    try {
      const file = await open(temp, 'wx', modes.file);
      try {
        await file.writeFile(bytes, { signal });
        await file.sync();
      } finally {
        await file.close();
      }
      signal?.throwIfAborted();
      try {
        await link(temp, target);
      } catch (error) {
        if (errnoCode(error) === 'EEXIST')
          throw new FileExistsError(this.description, relative, { cause: error });
        throw error;
      }
      await syncDir(dir);
      await chmod(target, modes.file & ~0o222);
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async load(handle: Handle, options?: LoadOptions): Promise<Buffer> {
    options?.signal?.throwIfAborted();
    const relative = handlePath(handle);
    const file = await open(join(this.root, relative), 'r').catch((error: unknown) => {
      throw errnoCode(error) === 'ENOENT'
        ? new FileNotFoundError(this.description, relative, { cause: error })
        : error;
    });
    try {
      const { size } = await file.stat();
      const range = rangeOf(size, options);
      if (!range) {
        const wanted = (options?.offset ?? 0) + (options?.length ?? 0);
        throw new ShortFileError(this.description, relative, wanted, size);
      }
      // Memory of its own (not a slice of Node's pool), so a blob worker can take it without a copy.
      const buffer = Buffer.allocUnsafeSlow(range.end - range.start);
      let done = 0;
      while (done < buffer.length) {
        options?.signal?.throwIfAborted();
        const { bytesRead } = await file.read(buffer, done, buffer.length - done, range.start + done);
        if (bytesRead === 0)
          throw new ShortFileError(this.description, relative, range.end, range.start + done);
        done += bytesRead;
      }
      return buffer;
    } finally {
      await file.close();
    }
  }

  async stat(handle: Handle, options?: SignalOptions): Promise<FileInfo | undefined> {
    options?.signal?.throwIfAborted();
    try {
      const info = await stat(join(this.root, handlePath(handle)));
      return { name: handle.type === 'config' ? 'config' : handle.name, size: info.size };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async *list(type: Exclude<FileType, 'config'>, options?: SignalOptions): AsyncGenerator<FileInfo> {
    const base = join(this.root, type);
    const dirs =
      type === 'data'
        ? (await entries(base)).filter((e) => e.isDirectory()).map((e) => join(base, e.name))
        : [base];
    for (const dir of dirs) {
      for (const entry of await entries(dir)) {
        options?.signal?.throwIfAborted();
        if (!entry.isFile() || entry.name.includes('-tmp-')) continue;
        const info = await stat(join(dir, entry.name)).catch((error: unknown) => {
          if (errnoCode(error) === 'ENOENT') return undefined; // removed while listing
          throw error;
        });
        if (info) yield { name: entry.name, size: info.size };
      }
    }
  }

  async remove(handle: Handle, options?: SignalOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    await unlink(join(this.root, handlePath(handle))).catch((error: unknown) => {
      if (errnoCode(error) !== 'ENOENT') throw error;
    });
  }

  /** restic's rule: group access when the config file is group-readable. */
  async #currentModes(): Promise<Modes> {
    if (this.#modes) return this.#modes;
    try {
      const info = await stat(join(this.root, 'config'));
      this.#modes = info.mode & 0o040 ? { dir: 0o770, file: 0o660 } : DEFAULT_MODES;
      return this.#modes;
    } catch {
      return DEFAULT_MODES; // no config yet: decide again once there is one
    }
  }
}

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

/** Makes a rename or link durable; file systems that cannot sync a directory are skipped. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF'].includes(errnoCode(error) ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
