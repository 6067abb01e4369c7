// check, forget and prune beside Debian's restic 0.14: restic writes three snapshots of a small changing
// directory; Cairn's check (reading all data) finds nothing wrong; Cairn forgets two by policy and
// prunes, and restic's own check --read-data passes, restic lists only the kept snapshot and restores
// it file for file. restic's `forget --dry-run --json` agrees with planForget, on restic's snapshots and
// on a table of snapshots Cairn writes (hosts, paths, tags, time zones, every rule). A pack changed on
// disk fails both checks.
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  LocalBackend,
  Repository,
  checkRepository,
  forgetByPolicy,
  loadSnapshots,
  planForget,
  pruneRepository,
  type ForgetGrouping,
  type ForgetPlan,
  type ForgetPolicy,
  type SnapshotInfo,
} from '../../src/repo/index.ts';
import { encodeTree, formatNodeTime } from '../../src/repo/tree.ts';
import { quickClock } from '../helpers/repo-maint.ts';
import { resticChecker, type ResticChecker } from '../helpers/restic-checker.ts';

const PASSWORD = 'cairn-format-test'; // the password resticChecker's repositories have
const UTC = { TZ: 'UTC' }; // restic keeps a time in its Local zone when the offset matches: keep that UTC

interface ResticForgetGroup {
  host: string;
  paths: string[] | null;
  tags: string[] | null;
  keep: { id: string }[] | null;
  remove: { id: string }[] | null;
  reasons: { matches: string[] }[] | null;
}

/** A forget plan in a shape both sides can be reduced to. */
function comparable(groups: { key: object; keep: string[]; remove: string[]; reasons: string[][] }[]) {
  return groups
    .map((g) => ({ ...g, remove: [...g.remove].sort() }))
    .sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
}

function ours(plan: ForgetPlan<SnapshotInfo>) {
  return comparable(
    plan.groups.map((g) => ({
      key: { host: g.key.hostname, paths: g.key.paths, tags: g.key.tags },
      keep: g.keep.map((k) => k.snapshot.id),
      remove: g.remove.map((s) => s.id),
      reasons: g.keep.map((k) => k.reasons),
    })),
  );
}

function theirs(json: Buffer) {
  const groups = JSON.parse(json.toString('utf8') || '[]') as ResticForgetGroup[] | null;
  return comparable(
    (groups ?? []).map((g) => ({
      key: { host: g.host, paths: g.paths ?? [], tags: g.tags ?? [] },
      keep: (g.keep ?? []).map((s) => s.id),
      remove: (g.remove ?? []).map((s) => s.id),
      reasons: (g.reasons ?? []).map((r) => r.matches),
    })),
  );
}

/** restic's forget flags for a policy. */
function flags(policy: ForgetPolicy, groupBy?: ForgetGrouping): string[] {
  const args: string[] = [];
  const counts = {
    last: 'last',
    hourly: 'hourly',
    daily: 'daily',
    weekly: 'weekly',
    monthly: 'monthly',
    yearly: 'yearly',
  } as const;
  for (const [field, name] of Object.entries(counts)) {
    const n = policy[field as keyof typeof counts];
    if (n) args.push(`--keep-${name}`, String(n));
  }
  const durations = {
    within: 'within',
    withinHourly: 'within-hourly',
    withinDaily: 'within-daily',
    withinWeekly: 'within-weekly',
    withinMonthly: 'within-monthly',
    withinYearly: 'within-yearly',
  } as const;
  for (const [field, name] of Object.entries(durations)) {
    const d = policy[field as keyof typeof durations];
    if (typeof d === 'string') args.push(`--keep-${name}`, d);
  }
  for (const list of policy.tags ?? []) args.push('--keep-tag', list.join(','));
  if (groupBy)
    args.push(
      '--group-by',
      [groupBy.host && 'host', groupBy.paths && 'paths', groupBy.tags && 'tags'].filter(Boolean).join(','),
    );
  return args;
}

async function resticForget(checker: ResticChecker, policy: ForgetPolicy, groupBy?: ForgetGrouping) {
  const args = ['--no-cache', '--no-lock', 'forget', '--dry-run', '--json', ...flags(policy, groupBy)];
  return theirs(await checker.restic(args, { env: UTC }));
}

function open(checker: ResticChecker): Promise<Repository> {
  return Repository.open(new LocalBackend({ root: join(checker.work, 'repo') }), {
    password: PASSWORD,
    clock: quickClock,
  });
}

async function readTree(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files[path.slice(dir.length + 1)] = (await readFile(path)).toString('hex');
    }
  return files;
}

describe('maintenance beside restic', () => {
  it('Cairn checks restic’s snapshots, forgets two and prunes; restic checks, lists and restores the rest', async (t) => {
    const checker = await resticChecker(t);
    const data = join(checker.work, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    const backup = (day: string) =>
      checker.restic(
        ['--no-cache', 'backup', '--quiet', '--host', 'cairn-test', '--time', `2024-01-${day} 10:00:00`, '.'],
        {
          cwd: data,
          env: UTC,
        },
      );
    const random = (n: number, seed: number) =>
      Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % 251));
    await writeFile(join(data, 'a.txt'), 'first version\n'.repeat(1000));
    await writeFile(join(data, 'b.bin'), random(300_000, 1));
    await writeFile(join(data, 'sub', 'c.txt'), 'stays the same\n');
    await backup('01');
    await writeFile(join(data, 'a.txt'), 'second version\n'.repeat(1000));
    await writeFile(join(data, 'd.bin'), random(200_000, 2));
    await backup('02');
    await rm(join(data, 'b.bin'));
    await writeFile(join(data, 'a.txt'), 'third version\n'.repeat(1000));
    await writeFile(join(data, 'sub', 'e.bin'), random(100_000, 3));
    await backup('03');
    const expected = await readTree(data);

    const repo = await open(checker);
    const check = await checkRepository(repo, { readData: true });
    assert.deepEqual(check.errors, []);
    assert.deepEqual(check.warnings, []);
    assert.equal(check.stats.snapshots, 3);
    assert.equal(check.stats.packsRead, check.stats.packs);

    // restic's own plan for --keep-last 1 is ours.
    const { snapshots } = await loadSnapshots(repo);
    assert.deepEqual(
      ours(planForget(snapshots, { last: 1 }, Date.now())),
      await resticForget(checker, { last: 1 }),
    );

    const { plan, removed } = await forgetByPolicy(repo, { last: 1 }, { now: Date.now() });
    assert.equal(removed.length, 2);
    const [kept] = plan.keep;
    const pruned = await pruneRepository(repo);
    t.diagnostic(
      `prune: ${pruned.stats.packsDeleted} packs deleted, ${pruned.plan.repack.length} repacked, ${pruned.stats.bytesFreed} bytes freed`,
    );
    assert.ok(pruned.stats.packsDeleted > 0 && pruned.stats.bytesFreed > 0);
    await repo.close();

    await checker.restic(['--no-cache', 'check', '--read-data']);
    const listed = JSON.parse((await checker.restic(['--no-cache', 'snapshots', '--json'])).toString()) as {
      id: string;
    }[];
    assert.deepEqual(
      listed.map((s) => s.id),
      [kept],
    );
    const target = join(checker.work, 'restore');
    await checker.restic(['--no-cache', 'restore', kept as string, '--target', target]);
    assert.deepEqual(await readTree(target), expected);
    const after = await checkRepository(await open(checker), { readData: true });
    assert.deepEqual(after.errors, []);
    assert.deepEqual(after.warnings, []);
    assert.equal(after.stats.unusedBlobs, 0);

    // A changed byte in a pack on disk: both checks fail, ours naming the pack.
    const packDir = join(checker.work, 'repo', 'data');
    let pack = '';
    for (const d of await readdir(packDir)) {
      const [name] = await readdir(join(packDir, d));
      if (name) {
        pack = name;
        break;
      }
    }
    assert.ok(pack, 'a pack to change');
    const path = join(packDir, pack.slice(0, 2), pack);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x40;
    await chmod(path, 0o600);
    await writeFile(path, bytes);
    const broken = await checkRepository(await open(checker), { readData: true });
    assert.deepEqual(
      broken.errors.filter((e) => e.pack !== undefined).map((e) => [e.code, e.pack]),
      [['pack-hash', pack]],
    );
    // When the byte is in a tree blob, the tree does not load either.
    assert.ok(broken.errors.every((e) => e.pack !== undefined || e.code === 'tree-unreadable'));
    await assert.rejects(checker.restic(['--no-cache', 'check', '--read-data']), /exit code|Command failed/);
  });

  it('restic’s forget --dry-run --json agrees with planForget on a table of snapshots, rule by rule', async (t) => {
    const checker = await resticChecker(t);
    const repo = await open(checker);
    const tree = (await repo.saveBlob('tree', encodeTree([]))).id;
    await repo.flush();
    // 90 snapshots over two and a half years, in clusters (same hour, same day), at four offsets.
    let seed = 42;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const offsets = [0, 120, -300, 330];
    let at = Date.parse('2021-01-01T00:00:00Z');
    for (let i = 0; i < 90; i++) {
      const step = [20 * 60_000, 5 * 3_600_000, 26 * 3_600_000, 9 * 86_400_000, 40 * 86_400_000][
        Math.floor(next() * 5)
      ] as number;
      at += Math.floor(step * (0.5 + next()));
      const time = formatNodeTime({
        unixNano: BigInt(at) * 1_000_000n + BigInt(Math.floor(next() * 1e6)),
        utcOffsetMinutes: offsets[Math.floor(next() * 4)] as number,
      });
      const tags = ['x', 'y'].filter(() => next() < 0.4);
      const snapshot: Record<string, unknown> = {
        time,
        tree,
        paths: next() < 0.7 ? ['/a'] : ['/b', '/a'],
        hostname: next() < 0.8 ? 'h1' : 'h2',
        username: 'u',
      };
      if (tags.length > 0) snapshot['tags'] = tags;
      await repo.saveJson('snapshots', snapshot);
    }
    // Then, newest, pairs on either side of an hour, day, ISO week, month and year boundary depending on
    // whether the offset written counts (it does, in restic) or the instant in UTC.
    const tail = [
      '2023-12-31T22:00:00Z',
      '2024-01-01T00:30:00+01:00',
      '2024-06-30T23:30:00Z',
      '2024-07-01T00:10:00+02:00',
      '2024-07-01T01:20:00+05:30',
      '2024-07-02T10:40:00Z',
      '2024-07-02T16:20:00+05:30',
      '2024-07-02T11:05:00Z',
      '2024-07-07T23:50:00Z',
      '2024-07-08T01:00:00+02:00',
      '2024-07-09T09:00:00-05:00',
    ];
    assert.ok(at < Date.parse(tail[0] as string), 'the tail is the newest');
    for (const time of tail)
      await repo.saveJson('snapshots', { time, tree, paths: ['/a'], hostname: 'h1', username: 'u' });
    const { snapshots, errors } = await loadSnapshots(repo);
    assert.deepEqual(errors, []);
    t.diagnostic(`snapshots from ${snapshots.map((s) => s.time).sort()[0]} on`);

    const cases: [ForgetPolicy, ForgetGrouping?][] = [
      [{ last: 3 }],
      [{ hourly: 6 }],
      [{ daily: 8 }],
      [{ weekly: 6 }],
      [{ monthly: 7 }],
      [{ yearly: 2 }],
      [{ daily: 3, weekly: 3, monthly: 4, yearly: 2 }],
      [{ within: '3m10d' }],
      [{ within: '1y2h' }],
      [
        {
          withinHourly: '2d',
          withinDaily: '20d',
          withinWeekly: '3m',
          withinMonthly: '1y',
          withinYearly: '5y',
        },
      ],
      [{ tags: [['x', 'y'], ['']], last: 1 }],
      [{ last: 2, monthly: 2 }, { tags: true }],
      [{ daily: 4 }, { host: true }],
      [{ last: 1, within: '20d' }, {}],
    ];
    for (const [policy, groupBy] of cases) {
      const plan = planForget(snapshots, policy, Date.now(), groupBy ? { groupBy } : {});
      assert.ok(plan.remove.length > 0 || policy.tags, `${JSON.stringify(policy)} removes something`);
      assert.deepEqual(
        ours(plan),
        await resticForget(checker, policy, groupBy),
        JSON.stringify([policy, groupBy]),
      );
    }
    await repo.close();
  });
});
