// Repository maintenance in server mode: every interval (default a day), the leader prunes the volume-data
// repositories of each ReadWrite location, so the data of forgotten snapshots (deleted backups) is freed,
// as Velero's repository maintenance job does. A repository another process has locked (a backup under
// way) is left for the next round, with a log line.
import { LockConflictError, pruneRepository } from '../repo/index.ts';
import { VolumeRepositories } from '../volumes/index.ts';
import type { ControllerContext } from './context.ts';
import { secretRepositoryPasswords } from './pod-volumes.ts';

/** Prunes every repository of every ReadWrite location once. Returns how many were pruned. */
export async function maintainRepositories(ctx: ControllerContext, signal: AbortSignal): Promise<number> {
  let pruned = 0;
  for (const location of ctx.locations.all()) {
    if (location.spec.accessMode === 'ReadOnly') continue;
    const name = location.metadata.name;
    let repositories: VolumeRepositories | undefined;
    try {
      const store = await ctx.locations.open(name, { createKey: false, withoutKey: true, signal });
      repositories = new VolumeRepositories({
        location: name,
        store: store.store,
        passwords: secretRepositoryPasswords(ctx),
        repository: { logger: { warn: (message) => ctx.log({ level: 'warning', message }) } },
      });
      for (const namespace of await repositories.namespaces({ signal })) {
        try {
          const repo = await repositories.repository(namespace, { create: false, signal });
          const result = await pruneRepository(repo, { signal });
          pruned++;
          ctx.log({
            level: 'info',
            message:
              `pruned repository restic/${namespace}/ of location ${name}: ${result.stats.packsDeleted} packs ` +
              `deleted, ${result.stats.bytesFreed} bytes freed`,
          });
        } catch (error) {
          if (signal.aborted) throw error;
          ctx.log({
            level: error instanceof LockConflictError ? 'info' : 'warning',
            message: `repository restic/${namespace}/ of location ${name} was not pruned: ${(error as Error).message}`,
          });
        }
      }
    } catch (error) {
      if (signal.aborted) throw error;
      ctx.log({ level: 'warning', message: `repositories of location ${name}: ${(error as Error).message}` });
    } finally {
      await repositories?.close();
    }
  }
  return pruned;
}
