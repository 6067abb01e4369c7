// The Restore controller: the standalone restore engine (createRestore) behind a phase machine.
// New → (validation: the backup exists in the cluster and finished, its location is known) → InProgress →
// Completed, PartiallyFailed or Failed; FailedValidation with the reasons otherwise, nothing applied.
// The restore's logs, results and resource list are recorded in the backup's location under
// `restores/<name>/` (Velero's place) when it is writable; a ReadOnly location (a migration source) keeps
// no files, and the status carries the outcome. A restore left InProgress by a stopped server is Failed.
import { nodeAgentRuns } from './node-agent.ts';
import { clusterPodVolumeFill } from './pod-volumes.ts';
import {
  newestOfSchedule,
  objectProblems,
  scheduleOf,
  unrestorableReason,
  type Backup,
  type Restore,
  type RestoreStatus,
} from '../api/index.ts';
import { createRestore, RestoreValidationError } from '../restore/index.ts';
import { MemoryStore, RestoreStore } from '../storage/index.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { patchStatus, progressWriter } from './resources.ts';

export const RESTORE_ORPHAN_REASON =
  'the server stopped during the restore; its resource list says what was applied';

export class RestoreController {
  readonly #ctx: ControllerContext;
  readonly #restores: Informer<Restore>;
  readonly #backups: Informer<Backup>;
  readonly #running = new Set<string>();

  constructor(ctx: ControllerContext, informers: { restores: Informer<Restore>; backups: Informer<Backup> }) {
    this.#ctx = ctx;
    this.#restores = informers.restores;
    this.#backups = informers.backups;
  }

  async failOrphans(signal: AbortSignal): Promise<void> {
    for (const restore of this.#restores.list()) {
      if (restore.status?.phase !== 'InProgress' || this.#running.has(restore.metadata.name)) continue;
      try {
        await patchStatus(
          this.#ctx,
          'Restore',
          restore.metadata.name,
          {
            phase: 'Failed',
            failureReason: RESTORE_ORPHAN_REASON,
            completionTimestamp: this.#ctx.now().toISOString(),
          },
          { signal },
        );
      } catch (error) {
        this.#ctx.log({
          level: 'warning',
          message: `cannot mark restore ${restore.metadata.name} Failed: ${(error as Error).message}`,
        });
      }
    }
  }

  /** The backup a restore reads: by name, or the newest Completed one of its schedule. */
  #backupOf(restore: Restore): Backup | string {
    const { backupName, scheduleName } = restore.spec;
    if (!backupName === !scheduleName) return 'exactly one of backupName and scheduleName must be set';
    if (backupName) {
      const backup = this.#backups.get(`${this.#ctx.namespace}/${backupName}`);
      if (!backup) return `backupName: no Backup named "${backupName}"`;
      const unrestorable = unrestorableReason(backup);
      return unrestorable ? `backupName: ${unrestorable}` : backup;
    }
    const newest = newestOfSchedule(this.#backups.list(), scheduleName ?? '');
    return newest ?? `scheduleName: schedule "${scheduleName}" has no Completed backup`;
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    this.#ctx.metrics.restoreTotal.set(this.#restores.list().length);
    const restore = this.#restores.get(key);
    if (!restore || restore.metadata.deletionTimestamp) return;
    const name = restore.metadata.name;
    if ((restore.status?.phase ?? 'New') !== 'New' || this.#running.has(name)) return;

    const backup = this.#backupOf(restore);
    const location =
      typeof backup === 'string'
        ? undefined
        : (restore.spec.storageLocation ??
          backup.status?.locations?.find((l) => l.phase === 'Completed')?.name ??
          backup.spec?.storageLocation);
    // A field the API server kept but Cairn does not know (a typo) is refused, named, before anything runs.
    const problems: string[] = objectProblems('Restore', restore).map(
      (p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`,
    );
    if (typeof backup === 'string') problems.push(backup);
    else if (!location || !this.#ctx.locations.get(location))
      problems.push(
        `storageLocation: no BackupLocation "${location ?? ''}" holds backup "${backup.metadata.name}"`,
      );
    if (problems.length > 0 || typeof backup === 'string' || !location)
      return this.#invalid(restore, problems, signal);

    const started = await patchStatus(
      this.#ctx,
      'Restore',
      name,
      { phase: 'InProgress', startTimestamp: this.#ctx.now().toISOString() },
      { resourceVersion: restore.metadata.resourceVersion, signal },
    );
    if (started === false) return { requeueAfterMs: 100 };
    this.#running.add(name);
    const schedule = scheduleOf(backup);
    this.#ctx.metrics.restoreAttempt.inc({ schedule });
    const startedAt = this.#ctx.clock.now();
    try {
      const store = await this.#ctx.locations.open(location, { createKey: false, signal });
      const writable = this.#ctx.locations.get(location)?.spec.accessMode !== 'ReadOnly';
      const records = new RestoreStore(writable ? store.store : new MemoryStore());
      const progress = progressWriter(this.#ctx, { kind: 'Restore', name, signal });
      const run = await createRestore({
        client: this.#ctx.client,
        name,
        spec: { ...restore.spec, backupName: backup.metadata.name },
        backups: store,
        records,
        now: () => this.#ctx.now(),
        uid: restore.metadata.uid ?? name,
        configNamespace: this.#ctx.namespace,
        podVolumes: this.#ctx.restoreHelperImage
          ? {
              image: this.#ctx.restoreHelperImage,
              fill: clusterPodVolumeFill({
                writer: this.#ctx,
                owner: { kind: 'Restore', name, uid: restore.metadata.uid ?? name },
                sleep: (ms, wait) => this.#ctx.clock.sleep(ms, wait),
                now: () => this.#ctx.clock.now(),
                podTimeoutMs: 10 * 60_000,
                agentRuns: (node, wait) =>
                  nodeAgentRuns(
                    this.#ctx.client,
                    this.#ctx.namespace,
                    node,
                    () => this.#ctx.clock.now(),
                    wait,
                  ),
                signal,
              }),
            }
          : undefined,
        signal,
        onProgress: (p) => progress.update({ ...p }),
      });
      await progress.flush();
      const status: RestoreStatus = run.restore.status ?? {};
      await patchStatus(this.#ctx, 'Restore', name, status, {
        signal: AbortSignal.timeout(10_000),
      });
      const phase =
        status.phase === 'Completed' || status.phase === 'PartiallyFailed' ? status.phase : 'Failed';
      this.#ctx.metrics.restoreEnded(schedule, {
        phase,
        seconds: (this.#ctx.clock.now() - startedAt) / 1000,
      });
      this.#ctx.log({
        level: 'info',
        message: `restore ${name} of backup ${backup.metadata.name}: ${status.phase}`,
      });
    } catch (error) {
      if (error instanceof RestoreValidationError) {
        await this.#invalid(
          restore,
          error.problems.map((p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`),
          signal,
        );
        return;
      }
      await patchStatus(
        this.#ctx,
        'Restore',
        name,
        {
          phase: 'Failed',
          failureReason: (error as Error).message,
          completionTimestamp: this.#ctx.now().toISOString(),
        },
        { signal: AbortSignal.timeout(10_000) },
      );
      this.#ctx.metrics.restoreEnded(schedule, { phase: 'Failed' });
    } finally {
      this.#running.delete(name);
    }
  }

  async #invalid(restore: Restore, problems: string[], signal: AbortSignal): Promise<void> {
    this.#ctx.log({
      level: 'warning',
      message: `restore ${restore.metadata.name} failed validation: ${problems.join('; ')}`,
    });
    await patchStatus(
      this.#ctx,
      'Restore',
      restore.metadata.name,
      {
        phase: 'FailedValidation',
        validationErrors: problems,
        completionTimestamp: this.#ctx.now().toISOString(),
      },
      { signal },
    );
    this.#ctx.metrics.restoreEnded('', { phase: 'FailedValidation' });
  }
}
