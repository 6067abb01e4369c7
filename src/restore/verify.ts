// Restore drills: a backup is restored into fresh namespaces (each source namespace under a new name) of
// the same cluster, or as it is into a scratch cluster; every restored object is read back and compared
// with the archive after the reset rules; the drill's namespaces are deleted. An operator learns that a
// backup restores before the day it must (docs/restore.md, "Verify").
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  collectionPath,
  discover,
  KubeApiError,
  ResourceMapper,
  type KubeClient,
  type KubeObject,
} from '../kube/index.ts';
import { MemoryStore, RestoreStore, type BackupStore } from '../storage/index.ts';
import { extractBackup } from './contents.ts';
import { createRestore, RESTORE_BACKUP_LABEL, RESTORE_NAME_LABEL } from './create.ts';
import { diffItems, type DiffEntry } from './diff.ts';
import type { PlanEntry, RestoreProgress } from './engine.ts';
import { comparable, prepareForRestore, type TransformOptions } from './transform.ts';

export interface VerifyBackupInput {
  client: KubeClient;
  backups: BackupStore;
  backupName: string;
  /**
   * mapped (default): every namespace is restored under a fresh name in this cluster, and cluster-scoped
   * objects are left alone; in-place: restored as backed up, cluster-scoped objects too (a scratch cluster).
   */
  mode?: 'mapped' | 'in-place' | undefined;
  /** Leave the drill's namespaces in place (default: delete them). */
  keep?: boolean | undefined;
  now: () => Date;
  /** A short random suffix for the drill's names. */
  suffix: string;
  concurrency?: number | undefined;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface VerifyDifference {
  groupResource: string;
  namespace?: string;
  name: string;
  /** What went wrong: the item differs from the backup, was not restored, or is missing. */
  problem: string;
  diff?: DiffEntry[];
}

export interface VerifyReport {
  backup: string;
  mode: 'mapped' | 'in-place';
  /** Source namespace → the drill's namespace. */
  namespaces: Record<string, string>;
  restorePhase: string;
  /** Objects read back and compared. */
  compared: number;
  /** Of those, equal to the backup after the reset rules. */
  equal: number;
  differences: VerifyDifference[];
  /** Items the restore leaves out on purpose (owned by restored controllers, published by the cluster). */
  notRestored: { groupResource: string; namespace?: string; name: string; reason: string }[];
  /** Whether the drill's namespaces were deleted. */
  cleanedUp: boolean;
}

/** A namespace name for the drill: `<source>-verify-<suffix>`, shortened with a hash to stay ≤ 63. */
export function drillNamespace(source: string, suffix: string): string {
  const name = `${source}-verify-${suffix}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 6);
  return `${source.slice(0, 63 - `-${hash}-verify-${suffix}`.length)}-${hash}-verify-${suffix}`.replace(
    /-+/g,
    '-',
  );
}

export async function verifyBackup(input: VerifyBackupInput): Promise<VerifyReport> {
  const { client, backups, backupName, signal } = input;
  const mode = input.mode ?? 'mapped';
  const dir = await mkdtemp(join(tmpdir(), 'cairn-verify-'));
  try {
    const contents = await extractBackup(await backups.openFile(backupName, 'archive', { signal }), {
      dir,
      signal,
    });
    try {
      const sourceNamespaces = new Set<string>();
      for (const resource of contents.resources.values())
        for (const ns of resource.namespaces) sourceNamespaces.add(ns);
      const mapping: Record<string, string> = {};
      if (mode === 'mapped')
        for (const ns of sourceNamespaces) mapping[ns] = drillNamespace(ns, input.suffix);
      const restoreName = `verify-${input.suffix}`;
      const run = await createRestore({
        client,
        name: restoreName,
        spec: {
          backupName,
          ...(mode === 'mapped' ? { namespaceMapping: mapping, includeClusterResources: false } : {}),
        },
        backups,
        contents,
        records: new RestoreStore(new MemoryStore()),
        now: input.now,
        uid: restoreName,
        concurrency: input.concurrency,
        onProgress: input.onProgress,
        signal,
      });
      const transform: TransformOptions = {
        namespaceMapping: new Map(Object.entries(mapping)),
        storageClassMapping: new Map(),
        preserveNodePorts: false,
        restoreLabels: { [RESTORE_BACKUP_LABEL]: backupName, [RESTORE_NAME_LABEL]: restoreName },
      };
      const outcomes = new Map<string, PlanEntry>();
      for (const entry of run.plan)
        outcomes.set(`${entry.groupResource}/${entry.namespace ?? ''}/${entry.name}`, entry);
      const mapper = new ResourceMapper((await discover(client, { signal })).resources);
      const report: VerifyReport = {
        backup: backupName,
        mode,
        namespaces: mapping,
        restorePhase: run.restore.status?.phase ?? 'Failed',
        compared: 0,
        equal: 0,
        differences: [],
        notRestored: [],
        cleanedUp: false,
      };
      try {
        for (const [gr, resource] of contents.resources) {
          for await (const item of contents.items(gr, resource.preferredVersion, signal ? { signal } : {})) {
            const target =
              item.namespace === undefined ? undefined : (mapping[item.namespace] ?? item.namespace);
            const name = gr === 'namespaces' ? (mapping[item.name] ?? item.name) : item.name;
            const outcome = outcomes.get(`${gr}/${target ?? ''}/${name}`);
            const where = { groupResource: gr, ...(target !== undefined ? { namespace: target } : {}), name };
            if (!outcome) continue; // not selected (cluster-scoped objects of a mapped drill)
            if (outcome.outcome === 'skipped') {
              report.notRestored.push({ ...where, reason: outcome.reason ?? 'skipped' });
              continue;
            }
            if (outcome.outcome === 'failed') {
              report.differences.push({ ...where, problem: `not restored: ${outcome.reason ?? 'failed'}` });
              continue;
            }
            const served = mapper.byGroupResource(gr);
            if (!served) {
              report.differences.push({ ...where, problem: `the cluster does not serve ${gr}` });
              continue;
            }
            let live: KubeObject;
            try {
              live = await client.json<KubeObject>({
                path: `${collectionPath(served, target)}/${encodeURIComponent(name)}`,
                signal,
              });
            } catch (error) {
              if (!(error instanceof KubeApiError && error.status === 404)) throw error;
              report.differences.push({ ...where, problem: 'missing after the restore' });
              continue;
            }
            const expected = comparable(gr, prepareForRestore(gr, item.object, transform).object, transform);
            const diff = diffItems(gr, expected, comparable(gr, live, transform), { max: 20 });
            report.compared += 1;
            if (diff.length === 0) report.equal += 1;
            else report.differences.push({ ...where, problem: 'differs from the backup', diff });
          }
        }
      } finally {
        if (mode === 'mapped' && !input.keep) {
          for (const ns of Object.values(mapping)) {
            await client.send({
              method: 'DELETE',
              path: `/api/v1/namespaces/${encodeURIComponent(ns)}`,
              signal,
            });
          }
          report.cleanedUp = true;
        }
      }
      return report;
    } finally {
      await contents.close().catch(() => undefined);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
