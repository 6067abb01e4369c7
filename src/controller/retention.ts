// Which backups a retention policy keeps, and why: a pure function of the backups and the time, for the
// garbage-collection controller (which deletes the rest) and for `describe` (which shows each backup's
// reason). Backups expire at their TTL unless a schedule's policy decides instead: keep the last N, and
// the newest backup of each of the last N hours, days, ISO weeks, months and years (grandfather-father-son,
// as restic's `forget`, Kasten and KubeStash count them). Failed backups are kept by a count of their own,
// so a run of failures does not push good backups out. A delete lock wins over everything.
// docs/design/server-mode.md, "Retention".

export interface RetentionPolicy {
  /** The newest N successful backups. */
  keepLast?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** The newest N failed backups (Failed, PartiallyFailed counts as successful). Default 3. */
  keepFailed?: number;
}

export interface RetainedBackup {
  name: string;
  /** When the backup started (ISO 8601). */
  startTimestamp: string;
  phase: string;
  /** The TTL's end (ISO 8601); used when there is no policy. */
  expiration?: string;
  /** No deletion before this time (deleteLockDays), ISO 8601. */
  deleteLockUntil?: string;
  /** Its spec's ttl, for the reason of its deletion ("expired (ttl 720h0m0s)"). */
  ttl?: string;
}

export interface RetentionDecision {
  name: string;
  keep: boolean;
  /** Why it is kept ("last 3", "daily 2026-11-24", "locked until ...", "not expired") or deleted. */
  reasons: string[];
}

const successful = (phase: string) => phase === 'Completed' || phase === 'PartiallyFailed';

/** The ISO 8601 week of a UTC date, as "2026-W48". */
export function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday); // the Thursday of this week decides its year
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const buckets: {
  rule: 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
  label: string;
  of: (d: Date) => string;
}[] = [
  { rule: 'hourly', label: 'hourly', of: (d) => d.toISOString().slice(0, 13) + 'h' },
  { rule: 'daily', label: 'daily', of: (d) => d.toISOString().slice(0, 10) },
  { rule: 'weekly', label: 'weekly', of: isoWeek },
  { rule: 'monthly', label: 'monthly', of: (d) => d.toISOString().slice(0, 7) },
  { rule: 'yearly', label: 'yearly', of: (d) => d.toISOString().slice(0, 4) },
];

/** Problems with a policy: every count must be a whole number ≥ 0. */
export function retentionPolicyProblems(
  policy: RetentionPolicy,
): { field: string; value: string; message: string }[] {
  const problems = [];
  for (const [field, value] of Object.entries(policy)) {
    if (!Number.isInteger(value) || (value as number) < 0)
      problems.push({
        field: `retention.${field}`,
        value: String(value),
        message: 'must be a whole number ≥ 0',
      });
  }
  return problems;
}

/**
 * Decides, for every backup, whether it is kept and why. With no policy, a backup is kept until its
 * expiration. Times are compared in UTC. The result is in the order of `backups`.
 */
export function decideRetention(
  backups: readonly RetainedBackup[],
  policy: RetentionPolicy | undefined,
  now: Date,
): RetentionDecision[] {
  const reasons = new Map<string, string[]>(backups.map((b) => [b.name, []]));
  const add = (name: string, reason: string) => reasons.get(name)?.push(reason);
  const newestFirst = [...backups].sort((a, b) => (a.startTimestamp < b.startTimestamp ? 1 : -1));

  if (!policy) {
    for (const b of backups) {
      if (!b.expiration || new Date(b.expiration) > now)
        add(b.name, b.expiration ? `not expired (until ${b.expiration})` : 'no expiration');
    }
  } else {
    const good = newestFirst.filter((b) => successful(b.phase));
    good.slice(0, policy.keepLast ?? 0).forEach((b) => add(b.name, `last ${policy.keepLast ?? 0}`));
    for (const { rule, label, of } of buckets) {
      const count = policy[rule] ?? 0;
      const seen = new Set<string>();
      for (const b of good) {
        if (seen.size >= count) break;
        const bucket = of(new Date(b.startTimestamp));
        if (seen.has(bucket)) continue;
        seen.add(bucket);
        add(b.name, `${label} ${bucket}`);
      }
    }
    const failed = newestFirst.filter((b) => !successful(b.phase));
    const keepFailed = policy.keepFailed ?? 3;
    failed.slice(0, keepFailed).forEach((b) => add(b.name, `one of the last ${keepFailed} failed`));
  }
  for (const b of backups) {
    if (b.deleteLockUntil && new Date(b.deleteLockUntil) > now)
      add(b.name, `locked until ${b.deleteLockUntil}`);
  }
  return backups.map((b) => {
    const why = reasons.get(b.name) ?? [];
    // Deleted: with no policy, because its TTL ended (the ttl said when known); with one, no rule keeps it.
    const deleted = policy
      ? 'no rule keeps it'
      : b.ttl
        ? `expired (ttl ${b.ttl})`
        : `expired (at ${b.expiration ?? '?'})`;
    return { name: b.name, keep: why.length > 0, reasons: why.length > 0 ? why : [deleted] };
  });
}
