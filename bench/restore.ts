// `npm run bench -- restore [--objects 10000] [--namespaces 100] [--raised-qps 1000] [--raised-burst 2000] [--low-limits]
//                          [--cpu-prof-dir <dir>]`
//
// Seeds cluster a ($KUBECONFIG) with the backup benchmark's mix of objects in namespaces of their own,
// restore-bench-000..., once (reused by later runs), backs up those namespaces and their seeded objects
// only (not the Endpoints and EndpointSlices of the seeded Services, nor the objects every namespace gets)
// into a filesystem location (encrypted, as by default), then measures, into cluster b ($KUBECONFIG_B)
// emptied of those namespaces before each run, at `cairn restore create`'s default client limits (qps 1000,
// burst 2000; with --low-limits also at the backup's 100/200, where the rate limiter caps both):
//   (a) the floor: the backup's objects created directly with Cairn's client, the same concurrency and
//       limits, read from the archive before the clock starts (bench/restore-floor.ts);
//   (b) `cairn restore create` of that backup, as a user runs it.
// Each runs in its own process; the peak RSS of each is reported. With --cpu-prof-dir, the restore
// processes write CPU profiles there. Not a test: it prints, it asserts nothing.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Restore } from '../src/api/index.ts';
import { defaultClientBurst, defaultClientQps, KubeClient, loadKubeConfig } from '../src/kube/index.ts';
import { seed } from './backup.ts';
import { emptyTarget as emptyFromB, env } from './setup.ts';
import { measure, type Measured } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const objects = flag('objects', 10_000);
const namespaces = flag('namespaces', 100);
const raised = { qps: flag('raised-qps', 1000), burst: flag('raised-burst', 2000) };
const profileDir = args.includes('--cpu-prof-dir')
  ? resolve(args[args.indexOf('--cpu-prof-dir') + 1] ?? '.')
  : undefined;
/** `cairn restore create`'s --concurrency default. */
const concurrency = 16;
const prefix = 'restore-bench-';
const clusterA = env('KUBECONFIG');
const clusterB = env('KUBECONFIG_B');
const clientOf = (kubeconfig: string) =>
  new KubeClient(loadKubeConfig({ env: { ...process.env, KUBECONFIG: kubeconfig } }), {
    qps: 0,
    burst: 1000,
  });

/** Cluster b emptied of the benchmark's namespaces. */
const emptyTarget = () => emptyFromB(clusterB, prefix);

interface FloorResult {
  created: number;
  failed: number;
  firstFailure?: string;
  seconds: number;
  readSeconds: number;
}

interface Pair {
  label: string;
  qps: number;
  burst: number;
  floor: Measured & { result: FloorResult };
  restore: Measured & { result: Restore; engineSeconds: number };
}

async function measurePair(
  label: string,
  limits: { qps: number; burst: number; flags: string[] },
  backup: { name: string; archive: string },
  xdg: Record<string, string>,
  run: number,
): Promise<Pair> {
  await emptyTarget();
  const floorRun = await measure(
    [
      join(root, 'bench', 'restore-floor.ts'),
      backup.archive,
      '--concurrency',
      String(concurrency),
      '--client-qps',
      String(limits.qps),
      '--client-burst',
      String(limits.burst),
    ],
    { KUBECONFIG: clusterB },
  );
  const floor = { ...floorRun, result: JSON.parse(floorRun.stdout.trim()) as FloorResult };
  console.log(
    `${label}: floor created ${floor.result.created} (failed ${floor.result.failed}) in ${floor.result.seconds.toFixed(2)} s`,
  );
  if (floor.result.firstFailure) console.log(`  first failure: ${floor.result.firstFailure}`);

  await emptyTarget();
  const restoreRun = await measure(
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      join(root, 'bin', 'cairn.js'),
      'restore',
      'create',
      `${backup.name}-${run}`,
      '--from-backup',
      backup.name,
      ...limits.flags,
      '-o',
      'json',
    ],
    { ...xdg, KUBECONFIG: clusterB },
  );
  const result = JSON.parse(restoreRun.stdout) as Restore;
  const status = result.status ?? {};
  const engineSeconds =
    (Date.parse(status.completionTimestamp ?? '') - Date.parse(status.startTimestamp ?? '')) / 1000;
  console.log(
    `${label}: restore ${status.phase}, created ${status.counts?.created} in ${restoreRun.seconds.toFixed(2)} s`,
  );
  return {
    label,
    qps: limits.qps,
    burst: limits.burst,
    floor,
    restore: { ...restoreRun, result, engineSeconds },
  };
}

async function main(): Promise<void> {
  await seed({ client: clientOf(clusterA), objects, namespaces, prefix });
  const work = await mkdtemp(join(tmpdir(), 'cairn-bench-restore-'));
  try {
    // The default location: a directory under XDG_DATA_HOME, with a fresh key (encrypted).
    const xdg = { XDG_CONFIG_HOME: join(work, 'config'), XDG_DATA_HOME: join(work, 'data') };
    await mkdir(xdg.XDG_CONFIG_HOME, { recursive: true });
    if (profileDir) await mkdir(profileDir, { recursive: true });
    const name = `restore-bench-${Date.now()}`;
    const started = performance.now();
    const made = await measure(
      [
        join(root, 'bin', 'cairn.js'),
        'backup',
        'create',
        name,
        '--include-namespaces',
        `${prefix}*`,
        '--include-resources',
        'namespaces,configmaps,secrets,services,serviceaccounts',
        '--selector',
        'bench.cairn.dev/seed=true',
        '--client-qps',
        '5000',
        '--client-burst',
        '5000',
        '-o',
        'json',
      ],
      { ...xdg, KUBECONFIG: clusterA },
    );
    const backup = JSON.parse(made.stdout) as {
      status: { phase: string; progress: { itemsBackedUp: number } };
    };
    console.log(
      `backup ${name}: ${backup.status.progress.itemsBackedUp} items (phase ${backup.status.phase}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const archive = join(work, 'archive.tar.gz');
    await measure([join(root, 'bin', 'cairn.js'), 'backup', 'download', name, '-o', archive], xdg);

    // `cairn restore create`'s defaults are --client-qps 1000 --client-burst 2000 (src/cli/commands/restore.ts);
    // with --low-limits the run also measures both at the backup's 100/200, where the limiter caps both.
    const pairs = [
      await measurePair(
        `restore defaults (qps ${raised.qps}, burst ${raised.burst})`,
        { ...raised, flags: [] },
        { name, archive },
        xdg,
        1,
      ),
    ];
    if (args.includes('--low-limits'))
      pairs.push(
        await measurePair(
          `low limits (qps ${defaultClientQps}, burst ${defaultClientBurst})`,
          {
            qps: defaultClientQps,
            burst: defaultClientBurst,
            flags: ['--client-qps', String(defaultClientQps), '--client-burst', String(defaultClientBurst)],
          },
          { name, archive },
          xdg,
          2,
        ),
      );
    await emptyTarget();

    const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en');
    console.log('');
    console.log(
      `restore benchmark: backup of ${backup.status.progress.itemsBackedUp} items (${namespaces} namespaces, ${objects} objects), restored into an emptied cluster b, ${concurrency} at a time`,
    );
    console.log('| run | client qps/burst | seconds | objects/s | peak RSS |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const p of pairs) {
      const created = p.restore.result.status?.counts?.created ?? 0;
      console.log(
        `| floor: create the objects directly | ${p.qps}/${p.burst} | ${p.floor.result.seconds.toFixed(2)} | ${rate(p.floor.result.created, p.floor.result.seconds)} | ${p.floor.maxRssMb.toFixed(0)} MB |`,
      );
      console.log(
        `| cairn restore create (filesystem location, encrypted) | ${p.qps}/${p.burst} | ${p.restore.seconds.toFixed(2)} | ${rate(created, p.restore.seconds)} | ${p.restore.maxRssMb.toFixed(0)} MB |`,
      );
    }
    console.log('');
    for (const p of pairs) {
      const status = p.restore.result.status ?? {};
      const created = status.counts?.created ?? 0;
      const same = created === p.floor.result.created ? 'the same as the floor' : 'NOT the same as the floor';
      console.log(`${p.label}:`);
      console.log(
        `  restore: phase ${status.phase}, ${created} created (${same}: ${p.floor.result.created}), ${status.counts?.failed ?? 0} failed, ${status.warnings ?? 0} warnings, ${status.errors ?? 0} errors`,
      );
      console.log(
        `  ratio restore/floor: ${(p.restore.seconds / p.floor.result.seconds).toFixed(2)}x (target: within 1.5x); restore rate ${rate(created, p.restore.seconds)} objects/s (target: >= 500)`,
      );
      console.log(
        `  restore: ${p.restore.engineSeconds.toFixed(2)} s from its start to its completion timestamp, ${(p.restore.seconds - p.restore.engineSeconds).toFixed(2)} s before and after (start-up, discovery, reading the archive, the record)`,
      );
      console.log(
        `  floor: ${p.floor.seconds.toFixed(2)} s as a process, of which ${p.floor.result.readSeconds.toFixed(2)} s reading the archive before its clock started`,
      );
      console.log(
        `  machine load average (1 min) at the end of the floor: ${p.floor.load.toFixed(1)}, of the restore: ${p.restore.load.toFixed(1)} (${availableParallelism()} cores)`,
      );
    }
    console.log('');
    console.log(
      "The restore's time is its whole process (start-up, reading the backup, discovery); the floor's only its creates.",
    );
    console.log("Velero's published figure: about 10 objects/s restoring 31k secrets.");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
