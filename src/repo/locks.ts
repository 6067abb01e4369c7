// Repository locks, as restic takes them (docs/formats/repository.md, "Locks"): a lock is an unpacked
// file in `locks/` saying who holds it and since when. Any number of non-exclusive locks (backup,
// restore, check) may coexist; an exclusive lock (prune) excludes every other lock. Taking a lock:
// look for conflicting locks, write ours, wait a moment, look again (two writers that raced both see
// each other; the later loser removes its lock). A held lock is refreshed every 5 minutes by writing a
// new file with the current time and removing the old one. A lock that was not refreshed for 30
// minutes, or whose process is gone on this very host, is stale: it is removed with a warning instead
// of blocking us (restic leaves that to `restic unlock`).
import { handlePath, type FileInfo } from './backend.ts';
import {
  systemClock,
  systemIdentity,
  systemProcessExists,
  silentLogger,
  type Clock,
  type Identity,
  type RepoLogger,
  type SignalOptions,
} from './environment.ts';
import { CorruptDataError, FileNotFoundError, LockConflictError, type LockOwner } from './errors.ts';
import { isId } from './ids.ts';

/** A lock file's JSON (restic's field order; uid and gid omitted when zero). */
export interface LockFileJson {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

/** The unpacked-file operations locking needs; the Repository provides them. */
export interface LockFiles {
  readonly description: string;
  saveJson(type: 'locks', value: object, options?: SignalOptions): Promise<string>;
  loadJson(type: 'locks', id: string, options?: SignalOptions): Promise<unknown>;
  list(type: 'locks', options?: SignalOptions): AsyncIterable<FileInfo>;
  removeFile(type: 'locks', id: string, options?: SignalOptions): Promise<void>;
}

export const LOCK_REFRESH_INTERVAL_MS = 5 * 60_000;
export const STALE_LOCK_AFTER_MS = 30 * 60_000;
/** How long to wait after writing a lock before looking for rivals again (restic: 200 ms). */
export const LOCK_SETTLE_MS = 200;

export interface LockOptions extends SignalOptions {
  exclusive: boolean;
  clock?: Clock | undefined;
  identity?: Identity | undefined;
  logger?: RepoLogger | undefined;
  /** Whether a pid is alive on this host. Default: signal 0 to it. */
  processExists?: ((pid: number) => boolean) | undefined;
  refreshIntervalMs?: number | undefined;
  staleAfterMs?: number | undefined;
  settleMs?: number | undefined;
}

interface Settings {
  exclusive: boolean;
  clock: Clock;
  identity: Identity;
  logger: RepoLogger;
  processExists: (pid: number) => boolean;
  refreshIntervalMs: number;
  staleAfterMs: number;
  settleMs: number;
}

/** Takes a lock, or fails with LockConflictError naming the holder of a conflicting one. */
export async function lockRepository(files: LockFiles, options: LockOptions): Promise<RepoLock> {
  const settings: Settings = {
    exclusive: options.exclusive,
    clock: options.clock ?? systemClock,
    identity: options.identity ?? systemIdentity(),
    logger: options.logger ?? silentLogger,
    processExists: options.processExists ?? systemProcessExists,
    refreshIntervalMs: options.refreshIntervalMs ?? LOCK_REFRESH_INTERVAL_MS,
    staleAfterMs: options.staleAfterMs ?? STALE_LOCK_AFTER_MS,
    settleMs: options.settleMs ?? LOCK_SETTLE_MS,
  };
  const signal = options.signal;
  await checkOthers(files, settings, new Set(), signal);
  const name = await files.saveJson('locks', lockJson(settings), { signal });
  try {
    await settings.clock.sleep(settings.settleMs, signal);
    signal?.throwIfAborted();
    await checkOthers(files, settings, new Set([name]), signal);
  } catch (error) {
    await files.removeFile('locks', name).catch(() => {});
    throw error;
  }
  return new RepoLock(files, settings, name);
}

/** A held lock. Refreshes itself until released; `signal` aborts when the lock is released or lost. */
export class RepoLock {
  readonly exclusive: boolean;
  readonly #files: LockFiles;
  readonly #settings: Settings;
  readonly #stop = new AbortController();
  readonly #lost = new AbortController();
  readonly #refreshing: Promise<void>;
  #name: string;
  #refreshedAt: number;

  constructor(files: LockFiles, settings: Settings, name: string) {
    this.exclusive = settings.exclusive;
    this.#files = files;
    this.#settings = settings;
    this.#name = name;
    this.#refreshedAt = settings.clock.now();
    this.#refreshing = this.#refreshLoop();
  }

  /** The current lock file's id (it changes with every refresh). */
  get name(): string {
    return this.#name;
  }

  /** Aborts when the lock is released, or lost because it could not be refreshed in time. */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  /** Writes a new lock file with the current time and removes the old one. */
  async refresh(options: SignalOptions = {}): Promise<void> {
    if (this.#stop.signal.aborted) throw new Error('the lock was released');
    const name = await this.#files.saveJson('locks', lockJson(this.#settings), options);
    const old = this.#name;
    this.#name = name;
    this.#refreshedAt = this.#settings.clock.now();
    await this.#files.removeFile('locks', old, options);
  }

  /** Stops refreshing and removes the lock file. */
  async release(options: SignalOptions = {}): Promise<void> {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    await this.#refreshing;
    this.#lost.abort(new Error('the lock was released'));
    await this.#files.removeFile('locks', this.#name, options);
  }

  async #refreshLoop(): Promise<void> {
    const { clock, refreshIntervalMs, staleAfterMs, logger } = this.#settings;
    // Give up a while before the lock turns stale for others, allowing for clock skew (restic's rule).
    const giveUpAfter = staleAfterMs - (refreshIntervalMs * 3) / 2;
    const stop = this.#stop.signal;
    for (;;) {
      await clock.sleep(refreshIntervalMs, stop);
      if (stop.aborted) return;
      try {
        await this.refresh({ signal: stop });
      } catch (error) {
        if (stop.aborted) return;
        logger.warn(
          `refreshing lock ${handlePath({ type: 'locks', name: this.#name })} in ${this.#files.description} failed: ${String(error)}`,
        );
        if (clock.now() - this.#refreshedAt > giveUpAfter) {
          this.#lost.abort(
            new Error(`the lock on ${this.#files.description} could not be refreshed and is lost`),
          );
          return;
        }
      }
    }
  }
}

/** Throws LockConflictError for a live lock that conflicts; removes stale ones on the way. */
async function checkOthers(
  files: LockFiles,
  settings: Settings,
  own: Set<string>,
  signal: AbortSignal | undefined,
) {
  for await (const { name, size } of files.list('locks', { signal })) {
    // Empty files: an upload cut short on a backend without atomic writes (restic ignores them too).
    if (own.has(name) || size === 0 || !isId(name)) continue;
    let lock: LockFileJson;
    try {
      lock = parseLock(await files.loadJson('locks', name, { signal }), handlePath({ type: 'locks', name }));
    } catch (error) {
      if (error instanceof FileNotFoundError) continue; // released while we looked
      throw error;
    }
    const owner: LockOwner = { ...lock };
    if (stale(lock, settings)) {
      settings.logger.warn(
        `removing stale lock ${handlePath({ type: 'locks', name })} in ${files.description}: pid ${lock.pid} on ${lock.hostname} ` +
          `(user ${lock.username}), last refreshed ${lock.time}`,
      );
      await files.removeFile('locks', name, { signal });
      continue;
    }
    if (settings.exclusive || lock.exclusive)
      throw new LockConflictError(files.description, handlePath({ type: 'locks', name }), owner);
  }
}

function stale(lock: LockFileJson, settings: Settings): boolean {
  const time = Date.parse(lock.time);
  if (!Number.isFinite(time) || settings.clock.now() - time > settings.staleAfterMs) return true;
  return lock.hostname === settings.identity.hostname && !settings.processExists(lock.pid);
}

function lockJson(settings: Settings): LockFileJson {
  const { identity, clock, exclusive } = settings;
  const json: LockFileJson = {
    time: new Date(clock.now()).toISOString(),
    exclusive,
    hostname: identity.hostname,
    username: identity.username,
    pid: identity.pid,
  };
  if (identity.uid) json.uid = identity.uid;
  if (identity.gid) json.gid = identity.gid;
  return json;
}

/** Checks a lock file's JSON; `path` names it for errors. */
export function parseLock(value: unknown, path: string): LockFileJson {
  const json = value as Partial<LockFileJson> | null;
  if (typeof json !== 'object' || json === null)
    throw new CorruptDataError(path, 'the lock is not a JSON object');
  const lock: LockFileJson = {
    time: typeof json.time === 'string' ? json.time : '',
    exclusive: json.exclusive === true,
    hostname: typeof json.hostname === 'string' ? json.hostname : '',
    username: typeof json.username === 'string' ? json.username : '',
    pid: typeof json.pid === 'number' ? json.pid : 0,
  };
  if (typeof json.uid === 'number') lock.uid = json.uid;
  if (typeof json.gid === 'number') lock.gid = json.gid;
  return lock;
}
