// The backup engine: lists the selected objects at one storage revision and streams them into an archive
// writer, following related items. It knows nothing of locations, the CLI or controllers: it takes plain
// values, writes into the archive it is given, reports progress through a callback, and returns the
// outcome with every per-item problem as data (docs/design/backup-store.md, "The engine's flow").
// This file is the order of the steps; the item collector (collect.ts) decides what is listed and lists
// it, the item writer (write.ts) decides what of it is written and writes it.
import { Results, scopeOf, type BackupPhase, type ConsistencyMode } from '../api/index.ts';
import type { ArchiveWriter } from '../archive/index.ts';
import { currentRevision, type KubeClient, type ResourceMapper } from '../kube/index.ts';
import {
  backupTargets,
  collectRelated,
  collectTargets,
  listCustomResources,
  listSelectedNamespaces,
  namespaceObjectsToWrite,
  type Collector,
} from './collect.ts';
import { builtinItemActions, type ItemAction } from './item-actions.ts';
import type { Selection } from './selection.ts';
import { ItemWriter, type BackupProgress, type LogEntry } from './write.ts';

export { namespaceObjectsToWrite };
export type { BackupProgress, LogEntry } from './write.ts';

export interface BackupEngineInput {
  client: KubeClient;
  mapper: ResourceMapper;
  selection: Selection;
  consistency: ConsistencyMode;
  archive: ArchiveWriter;
  itemActions?: readonly ItemAction[] | undefined;
  /** Items per list page (default 500). */
  pageSize?: number | undefined;
  /**
   * Copy the items of resources no item action looks at into the archive as the API server sent them,
   * without parsing them (default true). False parses and encodes every item (the same objects).
   */
  copyRawItems?: boolean | undefined;
  onProgress?: ((progress: BackupProgress) => void) | undefined;
  log?: ((entry: LogEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BackupOutcome {
  phase: Extract<BackupPhase, 'Completed' | 'PartiallyFailed'>;
  results: Results;
  /** Velero's resource list: {"apps/v1/Deployment": ["ns/name", ...]}, sorted. */
  resourceList: Record<string, string[]>;
  consistency: { mode: ConsistencyMode; revision?: string; bestEffortResources: string[] };
  progress: { itemsBackedUp: number; totalItems: number };
}

/**
 * Runs a backup into `input.archive` and resolves when every item is in it (the caller finishes the
 * archive). A failure of the whole backup (the cluster unreachable, the archive broken, an abort) rejects;
 * per-item and per-resource problems are in the outcome's results.
 */
export async function runBackupEngine(input: BackupEngineInput): Promise<BackupOutcome> {
  const { client, selection, signal } = input;
  const results = new Results();
  const log = (entry: LogEntry) => {
    if (entry.level === 'error') results.error(scopeOf(entry.namespace), entry.message);
    if (entry.level === 'warning') results.warning(scopeOf(entry.namespace), entry.message);
    input.log?.(entry);
  };
  const revision = input.consistency === 'snapshot' ? await currentRevision(client, { signal }) : undefined;
  log({
    level: 'info',
    message: revision
      ? `listing every resource at storage revision ${revision}`
      : 'listing every resource at its latest state (best effort)',
  });
  const run: Collector = {
    client,
    mapper: input.mapper,
    selection,
    revision,
    pageSize: input.pageSize,
    signal,
    log,
    bestEffort: new Set(),
  };
  const customResources = await listCustomResources(run);
  const namespaces = await listSelectedNamespaces(run);
  const writer = new ItemWriter({
    archive: input.archive,
    actions: input.itemActions ?? builtinItemActions,
    customResources,
    copyRawItems: input.copyRawItems,
    onProgress: input.onProgress,
    log,
  });
  await collectTargets(run, writer, backupTargets(selection, namespaces.names));
  await collectRelated(run, writer);
  // The Namespace objects last, once the namespaces holding items are known: a restore needs them to
  // recreate the namespaces, whatever the label selectors.
  if (namespaces.resource && selection.includeNamespaceObjects && selection.namespaced.length > 0) {
    const list = writer.beginList(namespaces.resource);
    for (const ns of namespaceObjectsToWrite(namespaces.objects, selection, writer.itemNamespaces))
      await writer.write(list, ns);
  }
  const { resourceList, progress } = writer.finish();
  return {
    phase: results.errorCount > 0 ? 'PartiallyFailed' : 'Completed',
    results,
    resourceList,
    consistency: {
      mode: input.consistency,
      ...(revision ? { revision } : {}),
      bestEffortResources: [...run.bestEffort],
    },
    progress,
  };
}
