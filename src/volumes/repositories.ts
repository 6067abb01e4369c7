// The volume-data repositories of a location: one per namespace, at restic/<namespace>/, each with a
// random password of its own (never one static password for all, as Velero's static-passw0rd). Where the
// passwords are kept is the caller's business (a Secret per repository in server mode, a 0600 file beside
// the location's key in standalone mode): the RepositoryPasswords interface. A repository is made on its
// first backup; a process opens each one once (so two volumes of one namespace do not both make it).
// Besides: which repositories a location has, what each holds, and changing a repository's password.
import {
  FileExistsError,
  handlePath,
  polynomialToHex,
  randomPolynomial,
  Repository,
  systemRandomBytes,
  type RandomBytes,
  type RepositoryOptions,
  WrongPasswordError,
} from '../repo/index.ts';
import type { ObjectStore } from '../storage/index.ts';
import { REPOSITORIES_PREFIX, repositoryPrefix, StoreBackend } from './repo-backend.ts';

export interface RepositoryPasswords {
  /** Where the passwords are kept, for messages ("Secret cairn-repo-default-shop in namespace cairn"). */
  where(location: string, namespace: string): string;
  /** The password kept for the repository, or undefined. */
  get(
    location: string,
    namespace: string,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<string | undefined>;
  /**
   * Keeps `password` for the repository unless one is kept already; resolves with the one kept (another
   * writer's, when it came first).
   */
  create(
    location: string,
    namespace: string,
    password: string,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<string>;
  /**
   * Replaces the kept password atomically: a reader finds the old one or the new one, never neither.
   * When it fails, the old one is kept.
   */
  replace(
    location: string,
    namespace: string,
    password: string,
    options?: { signal?: AbortSignal | undefined },
  ): Promise<void>;
}

/**
 * Volume work waits up to 10 minutes for a conflicting lock (a prune by the server's maintenance, a backup of
 * another node) instead of failing at once.
 */
const REPOSITORY_DEFAULTS = { lockWaitMs: 10 * 60_000 } as const;

export class RepositoryPasswordMissingError extends Error {
  override readonly name = 'RepositoryPasswordMissingError';
}

export class RepositoryNotFoundError extends Error {
  override readonly name = 'RepositoryNotFoundError';
}

export interface VolumeRepositoriesOptions {
  /** The location's name, for passwords and messages. */
  location: string;
  /** The location's store, its prefix applied. */
  store: ObjectStore;
  passwords: RepositoryPasswords;
  repository?: RepositoryOptions | undefined;
  /** New passwords and polynomials. Default: the system's cryptographic random bytes. */
  random?: RandomBytes | undefined;
}

/** A new repository password: 32 random bytes, base64url. */
const newPassword = (random: RandomBytes) => random(32).toString('base64url');

/** What a repository holds, as `repo get` shows it. Never the password. */
export interface RepositorySummary {
  namespace: string;
  /** Its prefix in the location: restic/<namespace>/. */
  prefix: string;
  /**
   * Ready: it opens with its password. PasswordMissing: no password is kept for it. WrongPassword: the
   * kept one opens no key file. Unreadable: something else failed (message).
   */
  state: 'Ready' | 'PasswordMissing' | 'WrongPassword' | 'Unreadable';
  message?: string | undefined;
  /** The repository's id (its config's), once opened. */
  id?: string | undefined;
  snapshots: number;
  packs: number;
  /** Bytes of the pack files. */
  packBytes: number;
  keys: number;
  /** Where its password is kept (passwords.where). */
  password: string;
}

/** What `rotatePassword` did. */
export interface PasswordRotation {
  /** The key files: the one removed and the one added (their names in keys/). */
  oldKey: string;
  newKey: string;
  /** Where the new password is kept. */
  password: string;
}

/** A step of a password rotation failed; the old password still opens the repository. */
export class PasswordRotationError extends Error {
  override readonly name = 'PasswordRotationError';
  readonly step: string;
  constructor(where: string, step: string, options: { cause: unknown }) {
    super(
      `the password of ${where} was not changed: ${step} failed: ${messageOf(options.cause)}; ` +
        'the old password still opens it',
      options,
    );
    this.step = step;
  }
}

/** The new password is kept and opens the repository, but the old key file is still there. */
export class OldKeyNotRemovedError extends Error {
  override readonly name = 'OldKeyNotRemovedError';
  readonly path: string;
  constructor(where: string, path: string, options: { cause: unknown }) {
    super(
      `the password of ${where} was changed, but the old key file ${path} could not be removed ` +
        `(${messageOf(options.cause)}): the old password still opens it until that file is removed`,
      options,
    );
    this.path = path;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The repositories of one location, opened (or made) on demand and kept open until `close`. */
export class VolumeRepositories {
  readonly #options: VolumeRepositoriesOptions;
  readonly #open = new Map<string, Promise<Repository>>();

  constructor(options: VolumeRepositoriesOptions) {
    this.#options = options;
  }

  get location(): string {
    return this.#options.location;
  }

  /** The repository of `namespace`; made when missing and `create` is set, else RepositoryNotFoundError. */
  async repository(
    namespace: string,
    options: { create: boolean; signal?: AbortSignal | undefined },
  ): Promise<Repository> {
    const key = `${namespace}\0${options.create}`;
    let opening = this.#open.get(namespace) ?? this.#open.get(key);
    if (!opening) {
      opening = this.#openOrInit(namespace, options);
      this.#open.set(options.create ? namespace : key, opening);
      opening.catch(() => this.#open.delete(options.create ? namespace : key));
    }
    return opening;
  }

  async #openOrInit(
    namespace: string,
    options: { create: boolean; signal?: AbortSignal | undefined },
  ): Promise<Repository> {
    const { location, store, passwords } = this.#options;
    const { signal } = options;
    const backend = new StoreBackend(store, namespace);
    const where = `the volume-data repository ${repositoryPrefix(namespace)} of location "${location}"`;
    const exists = (await backend.stat({ type: 'config', name: '' }, { signal })) !== undefined;
    if (exists) {
      const password = await passwords.get(location, namespace, { signal });
      if (password === undefined)
        throw new RepositoryPasswordMissingError(
          `${where} exists, but its password is not in ${passwords.where(location, namespace)}: ` +
            'copy it there from where the repository was made',
        );
      return Repository.open(backend, {
        ...REPOSITORY_DEFAULTS,
        ...this.#options.repository,
        password,
        signal,
      });
    }
    if (!options.create) throw new RepositoryNotFoundError(`${where} does not exist`);
    const random = this.#options.random ?? systemRandomBytes;
    const password = await passwords.create(location, namespace, newPassword(random), { signal });
    try {
      return await Repository.init(backend, {
        ...REPOSITORY_DEFAULTS,
        ...this.#options.repository,
        password,
        polynomial: polynomialToHex(randomPolynomial(random)),
        signal,
      });
    } catch (error) {
      // Another process made it meanwhile: open theirs.
      if (!(error instanceof FileExistsError)) throw error;
      return Repository.open(backend, {
        ...REPOSITORY_DEFAULTS,
        ...this.#options.repository,
        password,
        signal,
      });
    }
  }

  #where(namespace: string): string {
    return `the volume-data repository ${repositoryPrefix(namespace)} of location "${this.#options.location}"`;
  }

  /** The namespaces that have a repository in the location (prefixes under restic/), sorted. */
  async namespaces(options: { signal?: AbortSignal | undefined } = {}): Promise<string[]> {
    const names: string[] = [];
    for await (const entry of this.#options.store.list(REPOSITORIES_PREFIX, {
      delimiter: '/',
      signal: options.signal,
    }))
      if (entry.type === 'prefix') names.push(entry.prefix.slice(REPOSITORIES_PREFIX.length, -1));
    return names.sort();
  }

  /**
   * What the repository of `namespace` holds: counted from its files (no password needed), and opened
   * with its password for its id. A repository that does not open is summarized all the same, its state
   * saying why. RepositoryNotFoundError when there is none.
   */
  async summary(
    namespace: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<RepositorySummary> {
    const { signal } = options;
    const { store, passwords, location } = this.#options;
    const backend = new StoreBackend(store, namespace);
    if ((await backend.stat({ type: 'config', name: '' }, { signal })) === undefined)
      throw new RepositoryNotFoundError(`${this.#where(namespace)} does not exist`);
    const summary: RepositorySummary = {
      namespace,
      prefix: repositoryPrefix(namespace),
      state: 'Ready',
      snapshots: 0,
      packs: 0,
      packBytes: 0,
      keys: 0,
      password: passwords.where(location, namespace),
    };
    for await (const _ of backend.list('snapshots', { signal })) summary.snapshots++;
    for await (const _ of backend.list('keys', { signal })) summary.keys++;
    for await (const { size } of backend.list('data', { signal })) {
      summary.packs++;
      summary.packBytes += size;
    }
    try {
      summary.id = (await this.repository(namespace, { create: false, signal })).config.id;
    } catch (error) {
      signal?.throwIfAborted();
      summary.state =
        error instanceof RepositoryPasswordMissingError
          ? 'PasswordMissing'
          : error instanceof WrongPasswordError
            ? 'WrongPassword'
            : 'Unreadable';
      summary.message = messageOf(error);
    }
    return summary;
  }

  /**
   * Gives the repository of `namespace` a new random password, under an exclusive lock: a key file for
   * it is added, the repository is opened with it, the kept password is replaced (atomically), and
   * only then is the old key file removed. Until the replacement, a failure removes the new key file
   * again and leaves everything as it was (PasswordRotationError); after it, a failure to remove the old
   * key file leaves both passwords working (OldKeyNotRemovedError).
   */
  async rotatePassword(
    namespace: string,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<PasswordRotation> {
    const { signal } = options;
    const { passwords, location } = this.#options;
    const where = this.#where(namespace);
    const repo = await this.repository(namespace, { create: false, signal });
    const oldKey = repo.keyName;
    const password = newPassword(this.#options.random ?? systemRandomBytes);
    const lock = await repo.lock({ exclusive: true, signal });
    try {
      let step = 'adding a key file for the new password';
      let newKey: string | undefined;
      let reopened: Repository | undefined;
      try {
        newKey = await repo.addKey(password, { signal });
        step = 'opening the repository with the new password';
        reopened = await Repository.open(repo.backend, {
          ...REPOSITORY_DEFAULTS,
          ...this.#options.repository,
          password,
          signal,
        });
        if (reopened.keyName !== newKey)
          throw new Error(`it opened with key file ${reopened.keyName}, not the new ${newKey}`);
        step = `replacing the password in ${passwords.where(location, namespace)}`;
        await passwords.replace(location, namespace, password, { signal });
      } catch (error) {
        if (newKey !== undefined) await repo.removeKey(newKey).catch(() => undefined);
        throw new PasswordRotationError(where, step, { cause: error });
      }
      try {
        await reopened.removeKey(oldKey, { signal });
      } catch (error) {
        throw new OldKeyNotRemovedError(
          where,
          `${repositoryPrefix(namespace)}${handlePath({ type: 'keys', name: oldKey })}`,
          {
            cause: error,
          },
        );
      }
      return { oldKey, newKey, password: passwords.where(location, namespace) };
    } finally {
      await lock.release();
    }
  }

  /** Writes what is pending and releases every repository opened here. */
  async close(options?: { signal?: AbortSignal | undefined }): Promise<void> {
    const opened = await Promise.allSettled(this.#open.values());
    this.#open.clear();
    for (const result of opened) if (result.status === 'fulfilled') await result.value.close(options);
  }
}
