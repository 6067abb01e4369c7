// When a Schedule runs: its `schedule` string parsed the way Velero's (robfig/cron's standard parser)
// reads it — five fields (minute hour day-of-month month day-of-week, day-of-month and day-of-week OR'ed
// when both are restricted), the descriptors @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly,
// `@every <Go duration>`, and a leading `CRON_TZ=<zone>` or `TZ=<zone>` (default UTC). Cron arithmetic is
// croner's; this module only reads the string and decides what is due. Pure: time comes in as values.
import { Cron } from 'croner';
import { parseGoDuration } from '../api/index.ts';

export type ParsedSchedule =
  { kind: 'cron'; expression: string; timezone: string; cron: Cron } | { kind: 'every'; intervalMs: number };

export class ScheduleSyntaxError extends Error {
  override readonly name = 'ScheduleSyntaxError';
  readonly value: string;
  constructor(value: string, reason: string) {
    super(`schedule "${value}": ${reason}`);
    this.value = value;
  }
}

const DESCRIPTORS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Whether `zone` is an IANA time zone this runtime knows. */
function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Parses a schedule string; throws ScheduleSyntaxError naming the value and what is wrong. */
export function parseSchedule(value: string): ParsedSchedule {
  let text = value.trim();
  let timezone = 'UTC';
  const zone = /^(?:CRON_TZ|TZ)=(\S+)\s+/.exec(text);
  if (zone) {
    timezone = zone[1] ?? 'UTC';
    if (!knownZone(timezone)) throw new ScheduleSyntaxError(value, `unknown time zone "${timezone}"`);
    text = text.slice(zone[0].length).trim();
  }
  if (text === '') throw new ScheduleSyntaxError(value, 'is empty');
  if (text.startsWith('@every')) {
    if (zone) throw new ScheduleSyntaxError(value, '@every takes no time zone');
    const duration = text.slice('@every'.length).trim();
    const intervalMs = parseGoDuration(duration);
    if (intervalMs === undefined || duration === '')
      throw new ScheduleSyntaxError(value, `"${duration}" is not a duration (examples: 1h, 30m, 1h30m)`);
    if (intervalMs < 1000) throw new ScheduleSyntaxError(value, '@every needs at least 1s');
    return { kind: 'every', intervalMs };
  }
  let expression = text;
  if (text.startsWith('@')) {
    const known = DESCRIPTORS[text.toLowerCase()];
    if (!known)
      throw new ScheduleSyntaxError(
        value,
        `unknown descriptor (known: ${Object.keys(DESCRIPTORS).join(', ')}, @every <duration>)`,
      );
    expression = known;
  }
  const fields = expression.split(/\s+/);
  if (fields.length !== 5)
    throw new ScheduleSyntaxError(
      value,
      `needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  try {
    const cron = new Cron(expression, { timezone, mode: '5-part', paused: true });
    // A pattern of dates that do not exist (30 February) parses, and never runs.
    if (cron.nextRun(new Date(0)) === null && cron.nextRun() === null)
      throw new ScheduleSyntaxError(value, 'never matches a date');
    return { kind: 'cron', expression, timezone, cron };
  } catch (error) {
    if (error instanceof ScheduleSyntaxError) throw error;
    throw new ScheduleSyntaxError(value, (error as Error).message.replace(/^CronPattern: /, ''));
  }
}

/** The first run strictly after `after`. */
export function nextRunAfter(schedule: ParsedSchedule, after: Date): Date {
  if (schedule.kind === 'every') return new Date(after.getTime() + schedule.intervalMs);
  const next = schedule.cron.nextRun(after);
  // A five-field pattern always matches again (croner gives up only on impossible dates, e.g. 30 Feb).
  if (!next) throw new ScheduleSyntaxError(schedule.expression, 'never matches a date');
  return next;
}

export interface ScheduleState {
  /** When the schedule was created. */
  created: Date;
  /** When its last backup was made (status.lastBackup). */
  lastBackup?: Date | undefined;
  /** When a run was last skipped on purpose (status.lastSkipped: skipImmediately, or unpaused). */
  lastSkipped?: Date | undefined;
  /** spec.skipImmediately: do not back up at once when the schedule is created or unpaused. */
  skipImmediately?: boolean | undefined;
}

export type ScheduleDecision =
  /** Back up now. `nextRun` is the run after this one. */
  | { due: true; nextRun: Date }
  /** Nothing to do before `nextRun`. */
  | { due: false; nextRun: Date; skipNow?: boolean };

/**
 * Whether a backup is due at `now` (Velero's rule): a schedule that never ran backs up at once unless
 * skipImmediately; otherwise the next run is the first after the last backup (or the last skip); it is due
 * once `now` has reached it. Missed runs are not made up: one backup, then the next run after `now`.
 * `skipNow` tells the caller to record `now` as lastSkipped (the first look at a skipImmediately schedule).
 */
export function decide(schedule: ParsedSchedule, state: ScheduleState, now: Date): ScheduleDecision {
  const last = [state.lastBackup, state.lastSkipped]
    .filter((d): d is Date => d !== undefined)
    .sort((a, b) => b.getTime() - a.getTime())[0];
  if (last === undefined) {
    if (state.skipImmediately) return { due: false, nextRun: nextRunAfter(schedule, now), skipNow: true };
    return { due: true, nextRun: nextRunAfter(schedule, now) };
  }
  const next = nextRunAfter(schedule, last);
  if (now.getTime() >= next.getTime()) return { due: true, nextRun: nextRunAfter(schedule, now) };
  return { due: false, nextRun: next };
}

/** `<schedule>-<YYYYMMDDhhmmss>` in UTC, as Velero names a scheduled backup. */
export function scheduledBackupName(schedule: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `${schedule}-${stamp}`;
}
