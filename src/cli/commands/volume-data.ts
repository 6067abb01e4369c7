// What `cairn volume` and `cairn repo` share: a location's volume-data repositories, opened with their
// passwords — a location configured on this machine and the password files beside its key (standalone),
// or one of the server's BackupLocations and the Secrets in its namespace (server mode) — and the words
// their help uses.
import type { Command } from 'commander';
import type { BackupLocation } from '../../api/index.ts';
import type { ServerLocations } from '../../controller/index.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { CliIO } from '../io.ts';
import type { ModeOptions } from '../options.ts';
import type { VolumeRepositories } from '../../volumes/index.ts';

/** The sentence every command of both groups has in its help. */
export const MODE_NOTE =
  "Standalone, the locations are those configured on this machine (cairn location) and each repository's\n" +
  'password is the file beside its key; in server mode (a server installed in --namespace, default\n' +
  "cairn; --standalone and --server choose), the server's BackupLocations and their Secrets, the\n" +
  'passwords the Secrets cairn-repo-<location>-<namespace>: reading them takes the right to read Secrets\n' +
  "in the server's namespace.";

/** The server this command works through: its client and namespace (server mode). */
export interface ServerScope {
  client: KubeClient;
  namespace: string;
}

/** The server to work through (serverClient: --server, --standalone, or whether one is installed). */
export async function serverScope(
  io: CliIO,
  command: Command,
  options: ModeOptions,
): Promise<ServerScope | undefined> {
  const { serverClient } = await import('../server-mode.ts');
  const client = await serverClient(io, command, options);
  return client ? { client, namespace: options.namespace } : undefined;
}

export interface OpenedRepositories {
  repositories: VolumeRepositories;
  /** The location's name. */
  location: string;
  /** The location is ReadOnly: nothing may be written to it, not even a lock. */
  readOnly: boolean;
  /** Server mode: the location is the server's, the passwords its Secrets. */
  server: boolean;
}

/** The server's locations (BackupLocation resources in its namespace), to open with their Secrets. */
export async function serverLocations(server: ServerScope): Promise<ServerLocations> {
  const { ServerLocations, resourcePath } = await import('../../controller/index.ts');
  const { items } = await server.client.json<{ items: BackupLocation[] }>({
    path: resourcePath('BackupLocation', server.namespace),
  });
  return new ServerLocations({ client: server.client, namespace: server.namespace, list: () => items });
}

/** One of the server's locations by name (default: its default one), or an error naming what there is. */
export function serverLocation(
  locations: ServerLocations,
  server: ServerScope,
  name: string | undefined,
): BackupLocation {
  const location = name === undefined ? locations.defaultLocation() : locations.get(name);
  if (location) return location;
  const known = locations.all().map((l) => `"${l.metadata.name}"`);
  throw new Error(
    `${name === undefined ? 'no default BackupLocation' : `no BackupLocation "${name}"`} in namespace ` +
      `${server.namespace}${known.length ? ` (there are ${known.join(', ')})` : ''}`,
  );
}

/**
 * The volume-data repositories of a location (default: the default location): configured on this
 * machine, or in server mode one of the server's, with the passwords in its Secrets.
 */
export async function openRepositories(
  io: CliIO,
  name: string | undefined,
  server?: ServerScope,
): Promise<OpenedRepositories> {
  const { VolumeRepositories } = await import('../../volumes/index.ts');
  if (server) {
    const { secretRepositoryPasswords } = await import('../../controller/index.ts');
    const locations = await serverLocations(server);
    const location = serverLocation(locations, server, name);
    // The repositories have their own keys (the passwords): the location's key is not needed.
    const store = await locations.open(location.metadata.name, { createKey: false, withoutKey: true });
    return {
      repositories: new VolumeRepositories({
        location: location.metadata.name,
        store: store.store,
        passwords: secretRepositoryPasswords(server),
      }),
      location: location.metadata.name,
      readOnly: location.spec.accessMode === 'ReadOnly',
      server: true,
    };
  }
  const { fileRepositoryPasswords, findLocation, openLocation, withDefaultLocation } =
    await import('../config.ts');
  const location = findLocation(withDefaultLocation(io.env), name);
  const store = await openLocation(io.env, location);
  return {
    repositories: new VolumeRepositories({
      location: location.name,
      store: store.store,
      passwords: fileRepositoryPasswords(io.env),
    }),
    location: location.name,
    readOnly: location.spec.accessMode === 'ReadOnly',
    server: false,
  };
}

/** Whether a configured location of that name exists. */
export async function isConfigured(io: CliIO, name: string): Promise<boolean> {
  const { withDefaultLocation } = await import('../config.ts');
  return withDefaultLocation(io.env).locations.some((l) => l.name === name);
}

/** The short form of an id, as restic prints snapshot ids. */
export const shortId = (id: string | undefined) => (id ?? '').slice(0, 8);
