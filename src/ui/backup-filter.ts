// The backups table's filters applied to its rows. Pure (no DOM), so Node's tests import it.
import type { BackupRow } from '../api/index.ts';
import type { BackupFilter } from './routes.ts';

/** The age filter's choices: a backup newer than this many seconds (by when it started). */
export const AGE_CHOICES: readonly { value: string; label: string; seconds: number }[] = [
  { value: '1h', label: 'last hour', seconds: 3600 },
  { value: '24h', label: 'last 24 hours', seconds: 86400 },
  { value: '7d', label: 'last 7 days', seconds: 7 * 86400 },
  { value: '30d', label: 'last 30 days', seconds: 30 * 86400 },
];

/** The value a filter on `schedule` takes to mean "made by hand" (a row's schedule is ''). */
export const NO_SCHEDULE = '-';

/** The rows that pass every filter set; an unknown age choice filters nothing. */
export function filterBackups(rows: readonly BackupRow[], filter: BackupFilter, now: number): BackupRow[] {
  const age = AGE_CHOICES.find((choice) => choice.value === filter.age);
  return rows.filter((row) => {
    if (filter.phase && row.phase !== filter.phase) return false;
    if (filter.schedule && row.schedule !== (filter.schedule === NO_SCHEDULE ? '' : filter.schedule))
      return false;
    if (filter.location && !row.locations.includes(filter.location)) return false;
    // A backup of every namespace holds the one asked for too.
    if (filter.namespace && !row.namespaces.includes(filter.namespace) && !row.namespaces.includes('*'))
      return false;
    if (age) {
      const started = row.started === undefined ? NaN : Date.parse(row.started);
      if (Number.isNaN(started) || now - started > age.seconds * 1000) return false;
    }
    return true;
  });
}

/** The distinct values a filter's list offers, sorted: what the rows hold. */
export function filterChoices(rows: readonly BackupRow[]): {
  phases: string[];
  schedules: string[];
  namespaces: string[];
  locations: string[];
} {
  const sorted = (values: Iterable<string>) => [...new Set(values)].sort();
  return {
    phases: sorted(rows.map((r) => r.phase)),
    schedules: sorted(rows.map((r) => r.schedule).filter((s) => s !== '')),
    namespaces: sorted(rows.flatMap((r) => r.namespaces).filter((n) => n !== '*')),
    locations: sorted(rows.flatMap((r) => r.locations)),
  };
}
