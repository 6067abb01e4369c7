// `forget`: which snapshots a policy keeps, with restic's semantics (internal/restic/snapshot_policy.go
// and snapshot_group.go of restic 0.14, cmd/restic/cmd_forget.go), and removing snapshot files.
//
// Snapshots are grouped (by host name and paths unless told otherwise) and the policy applies to each
// group on its own. Within a group, newest first, a snapshot is kept when any rule keeps it:
// - keep-last n: the n newest;
// - keep-hourly/daily/weekly/monthly/yearly n: the newest snapshot of each of the n newest hours (days,
//   ISO weeks, months, years) that have snapshots, by the wall clock of the snapshot's time;
// - keep-within d: every snapshot newer than the latest snapshot minus d (years, months, days, hours);
//   keep-within-hourly/daily/... d: the newest of each hour (day, ...) among those;
// - keep-tag: every snapshot that has all tags of one of the tag lists.
// "Latest" is the newest snapshot not in the future; snapshots in the future are never removed by the
// within rules. An empty policy keeps everything.
//
// Time zone: restic buckets by the wall clock of each snapshot's time as written in the snapshot (Go keeps
// the offset it parsed), which is what `timeZone` undefined does; a `timeZone` (an IANA name such as
// "UTC" or "Europe/Berlin") buckets every snapshot by that zone's wall clock instead.
import type { SignalOptions } from './environment.ts';
import type { Repo } from './repo.ts';
import { loadSnapshots, type SnapshotInfo } from './snapshot-list.ts';
import { parseNodeTime } from './tree.ts';

/** A duration in restic's calendar units ("1y5m7d2h"). */
export interface ForgetDuration {
  years?: number | undefined;
  months?: number | undefined;
  days?: number | undefined;
  hours?: number | undefined;
}

export interface ForgetPolicy {
  last?: number | undefined;
  hourly?: number | undefined;
  daily?: number | undefined;
  weekly?: number | undefined;
  monthly?: number | undefined;
  yearly?: number | undefined;
  within?: ForgetDuration | string | undefined;
  withinHourly?: ForgetDuration | string | undefined;
  withinDaily?: ForgetDuration | string | undefined;
  withinWeekly?: ForgetDuration | string | undefined;
  withinMonthly?: ForgetDuration | string | undefined;
  withinYearly?: ForgetDuration | string | undefined;
  /** Keep snapshots that have every tag of at least one of these lists. */
  tags?: string[][] | undefined;
}

export interface ForgetGrouping {
  host?: boolean | undefined;
  paths?: boolean | undefined;
  tags?: boolean | undefined;
}

export interface PlanForgetOptions {
  /** What makes a group. Default host and paths (restic's `--group-by host,paths`); {} is one group. */
  groupBy?: ForgetGrouping | undefined;
  /** The IANA zone whose wall clock makes the buckets. Default: each snapshot's own offset (restic). */
  timeZone?: string | undefined;
}

/** What planForget needs of a snapshot. */
export type ForgetSnapshot = Pick<SnapshotInfo, 'id' | 'time' | 'hostname' | 'paths' | 'tags'>;

/** The rule counters after a kept snapshot, as restic reports them. */
export interface ForgetCounters {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
}

export interface ForgetKept<S extends ForgetSnapshot = ForgetSnapshot> {
  snapshot: S;
  /** restic's words: "last snapshot", "daily snapshot", "within 7d", "has tags [a, b]", ... */
  reasons: string[];
  counters: ForgetCounters;
}

export interface ForgetGroup<S extends ForgetSnapshot = ForgetSnapshot> {
  /** What the group's snapshots share (empty for what is not grouped by; paths and tags sorted). */
  key: { hostname: string; paths: string[]; tags: string[] };
  /** Newest first. */
  keep: ForgetKept<S>[];
  remove: S[];
}

export interface ForgetPlan<S extends ForgetSnapshot = ForgetSnapshot> {
  groups: ForgetGroup<S>[];
  /** Ids of the snapshots kept and removed, over all groups. */
  keep: string[];
  remove: string[];
}

/** Parses restic's duration syntax: numbers with the units y, m, d, h ("2y5m7d3h"). */
export function parseForgetDuration(text: string): ForgetDuration {
  const duration: ForgetDuration = {};
  const units = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
  let rest = text.trim();
  while (rest !== '') {
    const match = /^(-?\d+)(.?)/.exec(rest);
    if (!match) throw new RangeError(`invalid duration ${JSON.stringify(text)}: no number found`);
    const [all, number, unit] = match as unknown as [string, string, string];
    if (unit === '')
      throw new RangeError(`invalid duration ${JSON.stringify(text)}: no unit after ${number}`);
    const field = units[unit as keyof typeof units] as (typeof units)[keyof typeof units] | undefined;
    if (!field) throw new RangeError(`invalid duration ${JSON.stringify(text)}: invalid unit ${unit}`);
    duration[field] = Number(number);
    rest = rest.slice(all.length);
  }
  return duration;
}

/** restic's text for a duration: "1y2m3d4h", zero parts left out. */
export function formatForgetDuration(d: ForgetDuration): string {
  return (
    (d.years ? `${d.years}y` : '') +
    (d.months ? `${d.months}m` : '') +
    (d.days ? `${d.days}d` : '') +
    (d.hours ? `${d.hours}h` : '')
  );
}

function durationOf(value: ForgetDuration | string | undefined): ForgetDuration | undefined {
  const d = typeof value === 'string' ? parseForgetDuration(value) : value;
  return d && (d.years || d.months || d.days || d.hours) ? d : undefined;
}

/** Go's sort.Strings order: by UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Which snapshots the policy keeps and which it removes, per group. Pure: `now` (milliseconds since
 * the epoch, or a Date) only excludes snapshots in the future from being "the latest".
 */
export function planForget<S extends ForgetSnapshot>(
  snapshots: readonly S[],
  policy: ForgetPolicy,
  now: number | Date,
  options: PlanForgetOptions = {},
): ForgetPlan<S> {
  const groupBy = options.groupBy ?? { host: true, paths: true };
  const groups = new Map<string, { key: ForgetGroup['key']; snapshots: S[] }>();
  for (const snapshot of snapshots) {
    const key = {
      hostname: groupBy.host ? snapshot.hostname : '',
      paths: groupBy.paths ? [...snapshot.paths].sort(byteOrder) : [],
      tags: groupBy.tags ? [...snapshot.tags].sort(byteOrder) : [],
    };
    const name = JSON.stringify(key);
    const group = groups.get(name);
    if (group) group.snapshots.push(snapshot);
    else groups.set(name, { key, snapshots: [snapshot] });
  }
  const clock = wallClock(options.timeZone);
  const nowNano = BigInt(Math.floor(typeof now === 'number' ? now : now.getTime())) * 1_000_000n;
  const plan: ForgetPlan<S> = { groups: [], keep: [], remove: [] };
  for (const name of [...groups.keys()].sort()) {
    const group = groups.get(name) as { key: ForgetGroup['key']; snapshots: S[] };
    const { keep, remove } = applyPolicy(group.snapshots, policy, nowNano, clock);
    plan.groups.push({ key: group.key, keep, remove });
    plan.keep.push(...keep.map((k) => k.snapshot.id));
    plan.remove.push(...remove.map((s) => s.id));
  }
  return plan;
}

/** The wall clock of an instant: in a fixed zone, or at the offset the time was written with. */
interface WallClock {
  fields(unixNano: bigint, offsetMinutes: number): Fields;
  /** Go's time.Date in the instant's location: the instant of these (unnormalized) wall-clock fields. */
  instant(fields: Fields, unixNano: bigint, offsetMinutes: number): bigint;
}

interface Fields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** Nanoseconds within the second. */
  nano: number;
}

const NS_PER_MS = 1_000_000n;
const NS_PER_SECOND = 1_000_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

/** UTC fields of an instant given in nanoseconds (shifted by the offset beforehand). */
function utcFields(localNano: bigint): Fields {
  const seconds = floorDiv(localNano, NS_PER_SECOND);
  const date = new Date(Number(seconds) * 1000);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
    nano: Number(localNano - seconds * NS_PER_SECOND),
  };
}

/** The instant (ns) of UTC wall-clock fields, normalized as Go's time.Date normalizes them. */
function utcNano(f: Fields): bigint {
  const date = new Date(0);
  date.setUTCFullYear(f.year, f.month - 1, f.day);
  date.setUTCHours(f.hour, f.minute, f.second, 0);
  return BigInt(date.getTime()) * NS_PER_MS + BigInt(f.nano);
}

function wallClock(timeZone: string | undefined): WallClock {
  if (timeZone === undefined)
    return {
      fields: (unixNano, offset) => utcFields(unixNano + BigInt(offset) * 60n * NS_PER_SECOND),
      instant: (f, _unixNano, offset) => utcNano(f) - BigInt(offset) * 60n * NS_PER_SECOND,
    };
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    era: 'short',
  });
  /** The zone's offset (ns) at an instant. */
  const offsetAt = (unixNano: bigint): bigint => {
    const ms = Number(floorDiv(unixNano, NS_PER_MS));
    const parts = Object.fromEntries(format.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
    const yearOfEra = Number(parts['year']);
    const year = parts['era'] === 'BC' || parts['era'] === 'B' ? 1 - yearOfEra : yearOfEra;
    const wall = utcNano({
      year,
      month: Number(parts['month']),
      day: Number(parts['day']),
      hour: Number(parts['hour']),
      minute: Number(parts['minute']),
      second: Number(parts['second']),
      nano: 0,
    });
    const secondStart = floorDiv(floorDiv(unixNano, NS_PER_MS), 1000n) * NS_PER_SECOND;
    return wall - secondStart;
  };
  return {
    fields: (unixNano) => utcFields(unixNano + offsetAt(unixNano)),
    instant: (f, unixNano) => {
      const wall = utcNano(f);
      let instant = wall - offsetAt(unixNano);
      instant = wall - offsetAt(instant); // the offset where the result lands (another side of a DST change)
      return instant;
    },
  };
}

interface Bucket {
  count: number;
  last: number;
  reason: string;
  key: (f: Fields, nr: number) => number;
}

const BUCKET_KEYS = {
  always: (_f: Fields, nr: number) => nr,
  hour: (f: Fields) => f.year * 1_000_000 + f.month * 10_000 + f.day * 100 + f.hour,
  day: (f: Fields) => f.year * 10_000 + f.month * 100 + f.day,
  week: (f: Fields) => {
    const { year, week } = isoWeek(f);
    return year * 100 + week;
  },
  month: (f: Fields) => f.year * 100 + f.month,
  year: (f: Fields) => f.year,
};

/** Go's Time.ISOWeek: weeks start on Monday; week 1 holds the year's first Thursday. */
function isoWeek(f: Fields): { year: number; week: number } {
  const date = new Date(0);
  date.setUTCFullYear(f.year, f.month - 1, f.day);
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const year = date.getUTCFullYear();
  const first = new Date(0);
  first.setUTCFullYear(year, 0, 1);
  const dayOfYear = Math.round((date.getTime() - first.getTime()) / 86_400_000);
  return { year, week: Math.floor(dayOfYear / 7) + 1 };
}

/** Go's zero time, which restic's "latest" starts from. */
const GO_ZERO_TIME_NANO = -62_135_596_800n * NS_PER_SECOND;

function applyPolicy<S extends ForgetSnapshot>(
  group: readonly S[],
  policy: ForgetPolicy,
  nowNano: bigint,
  clock: WallClock,
): { keep: ForgetKept<S>[]; remove: S[] } {
  const list = group
    .map((snapshot) => ({ snapshot, time: parseNodeTime(snapshot.time) }))
    .sort((a, b) => (a.time.unixNano > b.time.unixNano ? -1 : a.time.unixNano < b.time.unixNano ? 1 : 0)); // stable
  const keep: ForgetKept<S>[] = [];
  const remove: S[] = [];
  const within = durationOf(policy.within);
  const withins = [
    { d: durationOf(policy.withinHourly), key: BUCKET_KEYS.hour, reason: 'hourly within' },
    { d: durationOf(policy.withinDaily), key: BUCKET_KEYS.day, reason: 'daily within' },
    { d: durationOf(policy.withinWeekly), key: BUCKET_KEYS.week, reason: 'weekly within' },
    { d: durationOf(policy.withinMonthly), key: BUCKET_KEYS.month, reason: 'monthly within' },
    { d: durationOf(policy.withinYearly), key: BUCKET_KEYS.year, reason: 'yearly within' },
  ].map((b) => ({ ...b, last: -1 }));
  const tags = policy.tags ?? [];
  const counted = (n: number | undefined) => (n !== undefined && n > 0 ? n : 0);
  const buckets: Bucket[] = [
    { count: counted(policy.last), key: BUCKET_KEYS.always, reason: 'last snapshot', last: -1 },
    { count: counted(policy.hourly), key: BUCKET_KEYS.hour, reason: 'hourly snapshot', last: -1 },
    { count: counted(policy.daily), key: BUCKET_KEYS.day, reason: 'daily snapshot', last: -1 },
    { count: counted(policy.weekly), key: BUCKET_KEYS.week, reason: 'weekly snapshot', last: -1 },
    { count: counted(policy.monthly), key: BUCKET_KEYS.month, reason: 'monthly snapshot', last: -1 },
    { count: counted(policy.yearly), key: BUCKET_KEYS.year, reason: 'yearly snapshot', last: -1 },
  ];
  const counters = (): ForgetCounters => {
    const [last, hourly, daily, weekly, monthly, yearly] = buckets.map((b) => b.count) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return { last, hourly, daily, weekly, monthly, yearly };
  };
  const empty =
    tags.length === 0 && !within && withins.every((b) => !b.d) && buckets.every((b) => b.count === 0);
  if (empty) {
    for (const { snapshot } of list)
      keep.push({ snapshot, reasons: ['policy is empty'], counters: counters() });
    return { keep, remove };
  }

  // The latest snapshot that is not in the future, and the thresholds of the within rules from it.
  let latest = { unixNano: GO_ZERO_TIME_NANO, utcOffsetMinutes: 0 };
  for (const { time } of list) if (time.unixNano > latest.unixNano && time.unixNano < nowNano) latest = time;
  const before = (d: ForgetDuration): bigint => {
    const f = clock.fields(latest.unixNano, latest.utcOffsetMinutes);
    const moved = {
      ...f,
      year: f.year - (d.years ?? 0),
      month: f.month - (d.months ?? 0),
      day: f.day - (d.days ?? 0),
    };
    const instant = clock.instant(moved, latest.unixNano, latest.utcOffsetMinutes);
    return instant - BigInt(d.hours ?? 0) * 3600n * NS_PER_SECOND;
  };
  const withinFrom = within && before(within);
  const withinsFrom = withins.map((b) => b.d && before(b.d));

  list.forEach(({ snapshot, time }, nr) => {
    const reasons: string[] = [];
    for (const list of tags) if (hasTags(snapshot.tags, list)) reasons.push(`has tags [${list.join(', ')}]`);
    if (within && withinFrom !== undefined && time.unixNano > withinFrom)
      reasons.push(`within ${formatForgetDuration(within)}`);
    const fields = clock.fields(time.unixNano, time.utcOffsetMinutes);
    for (const bucket of buckets) {
      if (bucket.count <= 0) continue;
      const value = bucket.key(fields, nr);
      if (value !== bucket.last) {
        bucket.last = value;
        bucket.count--;
        reasons.push(bucket.reason);
      }
    }
    withins.forEach((bucket, i) => {
      const from = withinsFrom[i];
      if (!bucket.d || from === undefined || time.unixNano <= from) return;
      const value = bucket.key(fields);
      if (value !== bucket.last) {
        bucket.last = value;
        reasons.push(`${bucket.reason} ${formatForgetDuration(bucket.d)}`);
      }
    });
    if (reasons.length > 0) keep.push({ snapshot, reasons, counters: counters() });
    else remove.push(snapshot);
  });
  return { keep, remove };
}

/** restic's Snapshot.HasTags: every tag of the list ("" matches a snapshot without tags). */
function hasTags(snapshotTags: readonly string[], list: readonly string[]): boolean {
  for (const tag of list) {
    if (tag === '' && snapshotTags.length === 0) return true;
    if (!snapshotTags.includes(tag)) return false;
  }
  return true;
}

export interface ForgetSnapshotsOptions extends SignalOptions {
  /** Take an exclusive lock while removing, as restic forget does. Default true. */
  lock?: boolean | undefined;
}

/**
 * Removes snapshot files, under an exclusive lock. The data they alone used stays until prune. Returns
 * the ids removed.
 */
export async function forgetSnapshots(
  repo: Pick<Repo, 'lock' | 'removeFile'>,
  ids: readonly string[],
  options: ForgetSnapshotsOptions = {},
): Promise<string[]> {
  const { signal } = options;
  const lock = options.lock === false ? undefined : await repo.lock({ exclusive: true, signal });
  const removed: string[] = [];
  try {
    for (const id of ids) {
      signal?.throwIfAborted();
      await repo.removeFile('snapshots', id, { signal });
      removed.push(id);
    }
  } finally {
    await lock?.release();
  }
  return removed;
}

export interface ForgetByPolicyOptions extends PlanForgetOptions, ForgetSnapshotsOptions {
  /** The current time (ms since the epoch). */
  now: number;
  /** Plan only: remove nothing. */
  dryRun?: boolean | undefined;
}

/**
 * restic forget with a policy: under an exclusive lock, loads every snapshot, plans, and removes the
 * snapshots the policy does not keep (none with an empty policy). A snapshot file that does not load
 * fails it, as in restic.
 */
export async function forgetByPolicy(
  repo: Pick<Repo, 'lock' | 'removeFile' | 'list' | 'loadJson'>,
  policy: ForgetPolicy,
  options: ForgetByPolicyOptions,
): Promise<{ plan: ForgetPlan<SnapshotInfo>; removed: string[] }> {
  const { signal } = options;
  const lock = options.lock === false ? undefined : await repo.lock({ exclusive: true, signal });
  try {
    const { snapshots, errors } = await loadSnapshots(repo, { signal });
    const [failed] = errors;
    if (failed) throw failed.error;
    const plan = planForget(snapshots, policy, options.now, options);
    const removed = options.dryRun ? [] : await forgetSnapshots(repo, plan.remove, { signal, lock: false });
    return { plan, removed };
  } finally {
    await lock?.release();
  }
}
