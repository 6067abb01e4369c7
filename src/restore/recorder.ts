// What a restore tells: each item's outcome (the plan, the counts, Velero's resource list), the warnings
// and errors by namespace, progress, and the pods that wait for their volumes or have hooks. Items of
// resources restored side by side finish in any order; each entry carries its place in restore order, and
// the plan is put in that order at the end, so that it reads the same however the requests interleaved.
import { Results, scopeOf, type RestoreCounts } from '../api/index.ts';
import type {
  PlanEntry,
  RestoreEngineInput,
  RestoreLogEntry,
  RestoreOutcome,
  RestoreProgress,
} from './types.ts';

/** An entry's place in the plan: its resource's rank in restore order, then the item's in the backup. */
export interface PlanPosition {
  rank: number;
  index: number;
}

/** The place of the namespaces deleted before anything is restored (delete-and-restore). */
export const BEFORE_EVERYTHING = Number.NEGATIVE_INFINITY;

export const where = (namespace: string | undefined, name: string) =>
  namespace ? `${namespace}/${name}` : name;

type PodWithVolumes = RestoreOutcome['podsWithVolumes'][number];
type PodWithHooks = RestoreOutcome['podsWithHooks'][number];

export class Recorder {
  readonly results = new Results();
  readonly counts: Required<RestoreCounts> = {
    created: 0,
    updated: 0,
    recreated: 0,
    unchanged: 0,
    skipped: 0,
    failed: 0,
  };
  readonly progress: RestoreProgress = { itemsRestored: 0, totalItems: 0 };
  /** Pods wrapped to wait for their volumes' files, and pods with hooks, by target namespace and name. */
  readonly podsWithVolumes = new Map<string, PodWithVolumes>();
  readonly podsWithHooks = new Map<string, PodWithHooks>();
  private readonly entries: { entry: PlanEntry; position: PlanPosition }[] = [];
  private readonly resourceList = new Map<string, string[]>();
  private readonly sink: Pick<RestoreEngineInput, 'onProgress' | 'log'>;

  constructor(sink: Pick<RestoreEngineInput, 'onProgress' | 'log'>) {
    this.sink = sink;
  }

  report(): void {
    this.sink.onProgress?.({ ...this.progress });
  }

  log(entry: RestoreLogEntry): void {
    const scope = scopeOf(entry.namespace);
    if (entry.level === 'error') this.results.error(scope, entry.message);
    if (entry.level === 'warning') this.results.warning(scope, entry.message);
    this.sink.log?.(entry);
  }

  /** Records an outcome; `listKey` names its line in the resource list ("apps/v1/Deployment"), if any. */
  record(entry: PlanEntry, position: PlanPosition, listKey?: string): void {
    this.entries.push({ entry, position });
    if (listKey) {
      const names = this.resourceList.get(listKey) ?? [];
      if (names.length === 0) this.resourceList.set(listKey, names);
      names.push(`${where(entry.namespace, entry.name)}(${entry.outcome})`);
    }
    if (entry.outcome === 'deleted') return;
    this.counts[entry.outcome] += 1;
    this.progress.itemsRestored += 1;
    this.progress.totalItems = Math.max(this.progress.totalItems, this.progress.itemsRestored);
    if (this.progress.itemsRestored % 50 === 0) this.report();
  }

  /** Every outcome, in restore order (entries of one place, the namespaces made, by name). */
  private plan(): PlanEntry[] {
    const key = (entry: PlanEntry) => where(entry.namespace, entry.name);
    return this.entries
      .sort(
        (a, b) =>
          a.position.rank - b.position.rank ||
          a.position.index - b.position.index ||
          (key(a.entry) < key(b.entry) ? -1 : key(a.entry) > key(b.entry) ? 1 : 0),
      )
      .map((e) => e.entry);
  }

  /** Ends the restore (`failure`: why it stopped part way) and tells what it did. */
  finish(failure: string | undefined, dryRun: boolean): RestoreOutcome {
    const { counts, progress } = this;
    delete progress.currentResource;
    this.log({
      level: 'info',
      message: `${dryRun ? 'planned' : 'done'}: ${counts.created} created, ${counts.updated} updated, ${counts.recreated ? `${counts.recreated} recreated, ` : ''}${counts.unchanged} unchanged, ${counts.skipped} skipped, ${counts.failed} failed`,
    });
    progress.totalItems = progress.itemsRestored;
    this.report();
    const resourceList: Record<string, string[]> = {};
    for (const key of [...this.resourceList.keys()].sort())
      resourceList[key] = (this.resourceList.get(key) ?? []).sort();
    const plan = this.plan();
    const podsMade = plan.filter(
      (e) => e.groupResource === 'pods' && (e.outcome === 'created' || e.outcome === 'recreated'),
    );
    const podKey = (e: PlanEntry) => `${e.namespace ?? ''}/${e.name}`;
    return {
      phase: failure !== undefined ? 'Failed' : this.results.errorCount > 0 ? 'PartiallyFailed' : 'Completed',
      ...(failure !== undefined ? { failureReason: failure } : {}),
      results: this.results,
      resourceList,
      counts,
      plan,
      progress: { itemsRestored: progress.itemsRestored, totalItems: progress.totalItems },
      podsWithVolumes: podsMade.flatMap((e) => this.podsWithVolumes.get(podKey(e)) ?? []),
      podsWithHooks: podsMade.flatMap((e) => this.podsWithHooks.get(podKey(e)) ?? []),
    };
  }
}
