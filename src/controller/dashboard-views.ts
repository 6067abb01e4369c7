// What the dashboard shows, computed from the server's caches: rows of backups, schedules (with their
// health) and locations. Pure: the HTTP side (dashboard.ts) decides who sees which rows.
import {
  scheduleOf,
  type Backup,
  type BackupLocation,
  type BackupRow,
  type LocationRow,
  type Schedule,
  type ScheduleRow,
} from '../api/index.ts';
import { deleteLockUntil } from './deletion.ts';
import { nextRunAfter, parseSchedule } from './schedule-timing.ts';

const FAILED_PHASES = new Set(['Failed', 'PartiallyFailed', 'FailedValidation']);

const seconds = (from: string | undefined, to: string | undefined) =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : undefined;

export function backupRow(backup: Backup): BackupRow {
  const status = backup.status ?? {};
  const stored = [...(status.locations ?? [])].sort(
    (a, b) => Number(b.phase === 'Completed') - Number(a.phase === 'Completed'),
  );
  const locations = stored.length > 0 ? stored.map((l) => l.name) : [backup.spec.storageLocation ?? ''];
  const included = backup.spec.includedNamespaces ?? [];
  return {
    name: backup.metadata.name,
    phase: status.phase ?? 'New',
    schedule: scheduleOf(backup),
    namespaces: included.length === 0 || included.includes('*') ? ['*'] : [...included].sort(),
    locations: locations.filter((l) => l !== ''),
    started: status.startTimestamp,
    completed: status.completionTimestamp,
    durationSeconds: seconds(status.startTimestamp, status.completionTimestamp),
    sizeBytes: stored.find((l) => l.phase === 'Completed')?.bytes,
    items: status.progress?.itemsBackedUp,
    warnings: status.warnings ?? 0,
    errors: status.errors ?? 0,
    expires: status.expiration,
    deleteLockUntil: deleteLockUntil(backup),
    failureReason:
      status.failureReason ??
      (status.validationErrors?.length ? status.validationErrors.join('; ') : undefined),
  };
}

/**
 * A schedule's row. Not healthy when its last backup failed, or when no backup of it succeeded within
 * its period: two runs came due since its last success (or its creation) and neither succeeded (one
 * period of slack for a backup that is running). A paused schedule is not judged.
 */
export function scheduleRow(schedule: Schedule, backups: readonly Backup[], now: Date): ScheduleRow {
  const own = backups
    .filter((b) => scheduleOf(b) === schedule.metadata.name)
    .sort((a, b) => startOf(a).localeCompare(startOf(b)));
  const last = own.at(-1);
  const lastSuccess = own.filter((b) => b.status?.phase === 'Completed').at(-1)?.status?.startTimestamp;
  const paused = schedule.spec.paused === true;
  const row: ScheduleRow = {
    name: schedule.metadata.name,
    schedule: schedule.spec.schedule,
    paused,
    lastBackup: last && backupRow(last),
    lastSuccess,
    nextRun: paused ? undefined : schedule.status?.nextRun,
    healthy: true,
  };
  if (paused) return row;
  const lastPhase = last?.status?.phase;
  if (last && lastPhase && FAILED_PHASES.has(lastPhase))
    return { ...row, healthy: false, problem: `its last backup, ${last.metadata.name}, is ${lastPhase}` };
  const since = lastSuccess ?? schedule.metadata.creationTimestamp;
  if (!since) return row;
  let overdueAt: Date;
  try {
    const parsed = parseSchedule(schedule.spec.schedule);
    overdueAt = nextRunAfter(parsed, nextRunAfter(parsed, new Date(since)));
  } catch {
    return { ...row, healthy: false, problem: `its schedule "${schedule.spec.schedule}" is not valid` };
  }
  if (now > overdueAt)
    return {
      ...row,
      healthy: false,
      problem: lastSuccess
        ? `no backup succeeded since ${lastSuccess}`
        : `no backup succeeded since it was made, ${since}`,
    };
  return row;
}

const startOf = (backup: Backup) => backup.status?.startTimestamp ?? backup.metadata.creationTimestamp ?? '';

export function locationRow(location: BackupLocation, backups: readonly Backup[]): LocationRow {
  const { spec, status } = location;
  const name = location.metadata.name;
  let used = 0;
  let count = 0;
  for (const backup of backups) {
    const here = backup.status?.locations?.find((l) => l.name === name && l.phase === 'Completed');
    if (!here) continue;
    count += 1;
    used += here.bytes ?? 0;
  }
  const bucket = spec.objectStorage?.bucket;
  const prefix = spec.objectStorage?.prefix;
  return {
    name,
    provider: spec.provider,
    where: bucket ? `${bucket}${prefix ? `/${prefix}` : ''}` : (spec.config?.['path'] ?? ''),
    accessMode: spec.accessMode === 'ReadOnly' ? 'ReadOnly' : 'ReadWrite',
    phase: status?.phase ?? 'Unknown',
    lastValidation: status?.lastValidationTime,
    message: status?.message,
    usedBytes: used,
    backups: count,
  };
}

/** Items per resource of a Velero resource list (`{"v1/ConfigMap": ["ns/name", "name"]}`), by namespace. */
export function resourceCounts(
  list: Record<string, string[]>,
  visible: (namespace: string | undefined) => boolean,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [resource, items] of Object.entries(list)) {
    const shown = items.filter((item) => {
      const slash = item.indexOf('/');
      return visible(slash < 0 ? undefined : item.slice(0, slash));
    }).length;
    if (shown > 0) counts[resource] = shown;
  }
  return counts;
}
