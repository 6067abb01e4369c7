// What `cairn volume` and `cairn repo` share: a configured location's volume-data repositories, opened
// with the passwords this machine keeps (standalone mode), and the words their help uses.
import type { CliIO } from '../io.ts';
import type { VolumeRepositories } from '../../volumes/index.ts';

/** The sentence every command of both groups has in its help. */
export const STANDALONE_NOTE =
  'Standalone mode: works on the locations configured on this machine (cairn location), with the\n' +
  'repository passwords kept beside their keys. Server mode comes with the node agent.';

export interface OpenedRepositories {
  repositories: VolumeRepositories;
  /** The location's name. */
  location: string;
  /** The location is ReadOnly: nothing may be written to it, not even a lock. */
  readOnly: boolean;
}

/** The volume-data repositories of a configured location (default: the default location). */
export async function openRepositories(io: CliIO, name: string | undefined): Promise<OpenedRepositories> {
  const { fileRepositoryPasswords, findLocation, openLocation, withDefaultLocation } =
    await import('../config.ts');
  const { VolumeRepositories } = await import('../../volumes/index.ts');
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
  };
}

/** Whether a configured location of that name exists. */
export async function isConfigured(io: CliIO, name: string): Promise<boolean> {
  const { withDefaultLocation } = await import('../config.ts');
  return withDefaultLocation(io.env).locations.some((l) => l.name === name);
}

/** The short form of an id, as restic prints snapshot ids. */
export const shortId = (id: string | undefined) => (id ?? '').slice(0, 8);
