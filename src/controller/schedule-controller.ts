// The Schedule controller: makes a Backup from the schedule's template whenever a run is due (Velero's
// rules: at once when new unless skipImmediately; then the first run after the last backup; missed runs
// are not made up; no new backup while one of the schedule's is New or InProgress). Backups are named
// `<schedule>-<YYYYMMDDhhmmss>` and labelled `cairn.dev/schedule-name` and `velero.io/schedule-name`.
// Time comes from the injected wall clock (`now`), so tests move it by hand.
import {
  CAIRN_API_VERSION,
  LABELS,
  objectProblems,
  scheduleOf,
  type Backup,
  type Schedule,
  type ScheduleStatus,
} from '../api/index.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { createResource, getResource, patchStatus } from './resources.ts';
import {
  decide,
  nextRunAfter,
  parseSchedule,
  scheduledBackupName,
  ScheduleSyntaxError,
  type ParsedSchedule,
} from './schedule-timing.ts';

/** A due schedule waits this long for its running backup before it looks again. */
const BUSY_RETRY_MS = 10_000;

/**
 * The Backup a schedule makes at `now`: its template's spec, its template's labels (or the schedule's)
 * plus the schedule-name labels, its annotations, owned by the schedule when useOwnerReferencesInBackup.
 * Named `<schedule>-<YYYYMMDDhhmmss>`. Also what "run now" makes (the dashboard, `backup create
 * --from-schedule`).
 */
export function backupOfSchedule(schedule: Schedule, now: Date): Pick<Backup, 'metadata' | 'spec'> {
  const name = schedule.metadata.name;
  const { metadata: templateMeta, ...template } = schedule.spec.template;
  const labels = {
    ...(templateMeta?.labels ?? schedule.metadata.labels ?? {}),
    [LABELS.schedule]: name,
    [LABELS.veleroSchedule]: name,
  };
  return {
    metadata: {
      name: scheduledBackupName(name, now),
      labels,
      ...(schedule.metadata.annotations ? { annotations: schedule.metadata.annotations } : {}),
      ...(schedule.spec.useOwnerReferencesInBackup && schedule.metadata.uid
        ? {
            ownerReferences: [
              {
                apiVersion: CAIRN_API_VERSION,
                kind: 'Schedule',
                name,
                uid: schedule.metadata.uid,
                controller: true,
              },
            ],
          }
        : {}),
    },
    spec: template,
  };
}

export class ScheduleController {
  readonly #ctx: ControllerContext;
  readonly #schedules: Informer<Schedule>;
  readonly #backups: Informer<Backup>;
  /** The longest a schedule waits before it is looked at again (its next run, or a clock that moved). */
  readonly #resyncMs: number;

  constructor(
    ctx: ControllerContext,
    informers: { schedules: Informer<Schedule>; backups: Informer<Backup> },
    options: { resyncMs: number },
  ) {
    this.#ctx = ctx;
    this.#schedules = informers.schedules;
    this.#backups = informers.backups;
    this.#resyncMs = options.resyncMs;
  }

  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    // Read live, not from the cache: the status written by the last run may not be in the cache yet, and a
    // stale lastBackup would make the same run twice.
    const cached = this.#schedules.get(key);
    if (!cached) return;
    const schedule = await getResource<Schedule>(this.#ctx, 'Schedule', cached.metadata.name, signal);
    if (!schedule || schedule.metadata.deletionTimestamp) return;
    const name = schedule.metadata.name;
    const status = schedule.status ?? {};

    const problems = objectProblems('Schedule', schedule).map(
      (p) => `${p.field}: ${p.message} (got ${JSON.stringify(p.value)})`,
    );
    let parsed: ParsedSchedule | undefined;
    try {
      parsed = parseSchedule(schedule.spec.schedule);
    } catch (error) {
      if (!(error instanceof ScheduleSyntaxError)) throw error;
      problems.push(`schedule: ${error.message}`);
    }
    if (problems.length > 0 || !parsed) {
      if (
        status.phase !== 'FailedValidation' ||
        status.validationErrors?.join('\n') !== problems.join('\n')
      ) {
        this.#ctx.log({
          level: 'warning',
          message: `schedule ${name} failed validation: ${problems.join('; ')}`,
        });
        await patchStatus(
          this.#ctx,
          'Schedule',
          name,
          { phase: 'FailedValidation', validationErrors: problems },
          { signal },
        );
      }
      return;
    }
    const now = this.#ctx.now();
    this.#ctx.metrics.scheduleExpectedInterval.set({ schedule: name }, intervalSeconds(parsed, now));
    if (schedule.spec.paused) {
      if (status.phase !== 'Enabled' || status.nextRun !== undefined)
        await patchStatus(
          this.#ctx,
          'Schedule',
          name,
          { phase: 'Enabled', validationErrors: null, nextRun: null },
          { signal },
        );
      return;
    }

    const decision = decide(
      parsed,
      {
        created: new Date(schedule.metadata.creationTimestamp ?? now.toISOString()),
        lastBackup: status.lastBackup ? new Date(status.lastBackup) : undefined,
        lastSkipped: status.lastSkipped ? new Date(status.lastSkipped) : undefined,
        skipImmediately: schedule.spec.skipImmediately,
      },
      now,
    );
    const update: Record<string, unknown> = {};
    if (status.phase !== 'Enabled') Object.assign(update, { phase: 'Enabled', validationErrors: null });
    if (!decision.due) {
      if (decision.skipNow) update.lastSkipped = now.toISOString();
      if (status.nextRun !== decision.nextRun.toISOString()) update.nextRun = decision.nextRun.toISOString();
      if (Object.keys(update).length > 0) await patchStatus(this.#ctx, 'Schedule', name, update, { signal });
      return { requeueAfterMs: this.#wait(decision.nextRun, now) };
    }

    // Due. Not while one of its backups is still to finish (Velero's rule): look again shortly.
    const busy = this.#backups
      .list()
      .some((b) => scheduleOf(b) === name && ['New', 'InProgress', undefined].includes(b.status?.phase));
    if (busy) {
      if (Object.keys(update).length > 0) await patchStatus(this.#ctx, 'Schedule', name, update, { signal });
      return { requeueAfterMs: Math.min(BUSY_RETRY_MS, this.#resyncMs) };
    }
    const backup = backupOfSchedule(schedule, now);
    const backupName = backup.metadata.name;
    const created = await createResource<Backup>(this.#ctx, 'Backup', backup, signal);
    this.#ctx.log({
      level: 'info',
      message: created
        ? `schedule ${name}: made backup ${backupName}`
        : `schedule ${name}: backup ${backupName} exists already`,
    });
    const done: ScheduleStatus = {
      ...(update as ScheduleStatus),
      lastBackup: now.toISOString(),
      nextRun: decision.nextRun.toISOString(),
    };
    await patchStatus(this.#ctx, 'Schedule', name, done, { signal });
    return { requeueAfterMs: this.#wait(decision.nextRun, now) };
  }

  #wait(nextRun: Date, now: Date): number {
    return Math.max(0, Math.min(nextRun.getTime() - now.getTime(), this.#resyncMs));
  }
}

/** The time between two runs from `now`, in seconds (cairn_schedule_expected_interval_seconds). */
function intervalSeconds(schedule: ParsedSchedule, now: Date): number {
  const first = nextRunAfter(schedule, now);
  return (nextRunAfter(schedule, first).getTime() - first.getTime()) / 1000;
}
