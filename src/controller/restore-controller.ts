// The Restore controller: the standalone restore engine (createRestore) behind a phase machine.
// New → (validation: the backup exists in the cluster and finished, its location is known) → InProgress →
// Completed, PartiallyFailed or Failed; FailedValidation with the reasons otherwise, nothing applied.
// The restore's logs, results and resource list are recorded in the backup's location under
// `restores/<name>/` (Velero's place) when it is writable; a ReadOnly location (a migration source) keeps
// no files, and the status carries the outcome. A restore left InProgress by a stopped server is Failed.
import { nodeAgentRuns } from './node-agent.ts';
import { clusterPodVolumeFill } from './pod-volumes.ts';
import {
  ANNOTATIONS,
  newestOfSchedule,
  objectProblems,
  parseCreator,
  RESTORE_CREATOR_POLICY,
  scheduleOf,
  unrestorableReason,
  type Backup,
  type Restore,
  type RestoreStatus,
} from '../api/index.ts';
import { KubeApiError } from '../kube/index.ts';
import { createRestore, RestoreValidationError, type RestorePermissions } from '../restore/index.ts';
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
    const permissions = await this.#permissionsOf(restore, signal);
    if (typeof permissions === 'string') problems.push(permissions);
    if (problems.length > 0 || typeof backup === 'string' || !location || typeof permissions === 'string')
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
        permissions,
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

  /**
   * Whom the restore writes for (tenant-safe restore, docs/security.md): the creator its annotation
   * names, which the admission policy vouches for; undefined when it writes as the server (checks off, or
   * a Restore made without the annotation by a user who may delegate, whom the policy alone lets do
   * that); a string when it cannot run: the policy is missing, or the annotation is not a creator.
   */
  async #permissionsOf(
    restore: Restore,
    signal: AbortSignal,
  ): Promise<RestorePermissions | string | undefined> {
    const access = this.#ctx.restoreAccess;
    if (!access) return undefined;
    // Without the policy in force, the annotation proves nothing, and its absence nothing either.
    const missing = await this.#policyMissing(signal);
    if (missing) return missing;
    const annotation = restore.metadata.annotations?.[ANNOTATIONS.creator];
    if (annotation === undefined) return undefined;
    const creator = parseCreator(annotation);
    if ('problem' in creator) return creator.problem;
    return {
      user: creator.username,
      allowed: async (request, s) => (await access.decide(creator, request, s)).allowed,
    };
  }

  /** Why the admission policy that vouches for creators is not in force, or undefined when it is. */
  async #policyMissing(signal: AbortSignal): Promise<string | undefined> {
    const base = '/apis/admissionregistration.k8s.io/v1';
    const unsafe =
      `so the Restore's creator cannot be trusted: run \`cairn install\` (or the Helm chart) again, or start the ` +
      'server with --no-restore-access-checks (unsafe where tenants create Restores)';
    try {
      await this.#ctx.client.json({
        path: `${base}/validatingadmissionpolicies/${RESTORE_CREATOR_POLICY}`,
        signal,
      });
      const binding = await this.#ctx.client.json<{
        spec?: { policyName?: string; validationActions?: string[] };
      }>({ path: `${base}/validatingadmissionpolicybindings/${RESTORE_CREATOR_POLICY}`, signal });
      if (
        binding.spec?.policyName !== RESTORE_CREATOR_POLICY ||
        !binding.spec.validationActions?.includes('Deny')
      )
        return `the ValidatingAdmissionPolicyBinding ${RESTORE_CREATOR_POLICY} does not deny by policy ${RESTORE_CREATOR_POLICY}, ${unsafe}`;
      return undefined;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404)
        return `the ValidatingAdmissionPolicy ${RESTORE_CREATOR_POLICY} or its binding is not installed, ${unsafe}`;
      throw error;
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
