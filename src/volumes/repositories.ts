// The volume-data repositories of a location: one per namespace, at restic/<namespace>/, each with a
// random password of its own (never one static password for all, as Velero's static-passw0rd). Where the
// passwords are kept is the caller's business (a Secret per repository in server mode, a 0600 file beside
// the location's key in standalone mode): the RepositoryPasswords interface. A repository is made on its
// first backup; a process opens each one once (so two volumes of one namespace do not both make it).
import { randomBytes } from 'node:crypto';
import {
  FileExistsError,
  polynomialToHex,
  randomPolynomial,
  Repository,
  type RepositoryOptions,
} from '../repo/index.ts';
import type { ObjectStore } from '../storage/index.ts';
import { repositoryPrefix, StoreBackend } from './repo-backend.ts';

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
}

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
      return Repository.open(backend, { ...this.#options.repository, password, signal });
    }
    if (!options.create) throw new RepositoryNotFoundError(`${where} does not exist`);
    const password = await passwords.create(location, namespace, randomBytes(32).toString('base64url'), {
      signal,
    });
    try {
      return await Repository.init(backend, {
        ...this.#options.repository,
        password,
        polynomial: polynomialToHex(randomPolynomial((n) => randomBytes(n))),
        signal,
      });
    } catch (error) {
      // Another process made it meanwhile: open theirs.
      if (!(error instanceof FileExistsError)) throw error;
      return Repository.open(backend, { ...this.#options.repository, password, signal });
    }
  }

  /** Writes what is pending and releases every repository opened here. */
  async close(options?: { signal?: AbortSignal | undefined }): Promise<void> {
    const opened = await Promise.allSettled(this.#open.values());
    this.#open.clear();
    for (const result of opened) if (result.status === 'fulfilled') await result.value.close(options);
  }
}
