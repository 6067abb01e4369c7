// `npm run bench -- velero [--objects 10000] [--namespaces 100] [--runs 2] [--restore-runs 1] [--no-restore]
//                         [--velero v1.17.2,v1.18.1]`
//
// Cairn beside the real Velero (testbed/lib/velero.ts: v1.17.2 and v1.18.1 with the AWS plugin, built by the
// testbed; --velero picks some),
// same cluster, same MinIO, alternating runs:
//   backup:  the seeded namespaces (velero-bench-000...: the backup benchmark's mix of ConfigMaps, Secrets,
//            Services and ServiceAccounts, with what the cluster adds: Endpoints, EndpointSlices, each
//            namespace's ServiceAccount and root CA ConfigMap) by `velero backup create --wait` against a
//            running server, Velero's defaults (client qps 100, burst 100) and tuned (qps 1000, burst 2000,
//            Cairn's restore defaults and above its backup's), and by `cairn backup create` into MinIO
//            (encrypted, as by default); with the raw-list floor (bench/floor.ts: every resource page-listed
//            at one revision by Cairn's client, process start included);
//   restore: each tool's backup into cluster b, emptied before each run, by `velero restore create --wait`
//            and `cairn restore create`; with the raw-create floor (bench/restore-floor.ts at qps 1000).
// Wall time is what a user waits: the velero CLI's run with the server already up, Cairn's whole process.
// Peak RSS: Cairn's process; Velero's server and its plugin processes (each's VmHWM, summed), a server
// started afresh for each measured run. Not a test: it prints, it asserts nothing.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Restore } from '../src/api/index.ts';
import { KubeClient, loadKubeConfig } from '../src/kube/index.ts';
import { startVelero, veleroFinished, veleroVersions, type VeleroServer } from '../testbed/lib/velero.ts';
import { seed } from './backup.ts';
import { emptyTarget as emptyFromB, env, minioConfig } from './setup.ts';
import { measure, type Measured } from './measure.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const objects = flag('objects', 10_000);
const namespaces = flag('namespaces', 100);
const runs = Math.max(1, flag('runs', 2));
const restoreRuns = args.includes('--no-restore') ? 0 : Math.max(1, flag('restore-runs', 1));
const prefix = 'velero-bench-';
const clusterA = env('KUBECONFIG');
const clusterB = env('KUBECONFIG_B');
const clientOf = (kubeconfig: string) =>
  new KubeClient(loadKubeConfig({ env: { ...process.env, KUBECONFIG: kubeconfig } }), {
    qps: 0,
    burst: 1000,
  });
const nsNames = Array.from({ length: namespaces }, (_, n) => `${prefix}${String(n).padStart(3, '0')}`);

const built = veleroVersions(env('CAIRN_VELERO_DIR'));
const asked = args.includes('--velero') ? (args[args.indexOf('--velero') + 1] ?? '').split(',') : built;
for (const version of asked)
  if (!built.includes(version)) throw new Error(`--velero ${version}: built are ${built.join(', ')}`);
/** Each Velero version at its defaults (client qps 100, burst 100) and tuned (qps 1000, burst 2000). */
const CONFIGS = asked.flatMap((version) => [
  { version, label: `Velero ${version} defaults (qps 100, burst 100)`, flags: {} },
  {
    version,
    label: `Velero ${version} tuned (qps 1000, burst 2000)`,
    flags: { clientQps: 1000, clientBurst: 2000 },
  },
]);

/** The peak RSS of the server and every process of its group (the plugins), MB. */
function veleroPeakRssMb(server: VeleroServer): number {
  let kb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== server.process.pid) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'));
      kb += Number(hwm?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

/** Runs the velero CLI and measures its wall time. */
function timed(server: VeleroServer, cliArgs: string[]): Promise<number> {
  const started = performance.now();
  return server.cli(cliArgs, 3_600_000).then(() => (performance.now() - started) / 1000);
}

/** Cluster b emptied of the benchmark's namespaces. */
const emptyTarget = () => emptyFromB(clusterB, prefix);

interface Row {
  what: string;
  seconds: number;
  items: number;
  rssMb: number;
  note?: string | undefined;
}

async function main(): Promise<void> {
  await seed({ client: clientOf(clusterA), objects, namespaces, prefix });
  const work = await mkdtemp(join(tmpdir(), 'cairn-bench-velero-'));
  const s3 = new S3Client({
    endpoint: env('CAIRN_S3_ENDPOINT'),
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: env('AWS_SECRET_ACCESS_KEY') },
  });
  const servers: VeleroServer[] = [];
  const velero = async (kubeconfig: string, bucket: string, config: (typeof CONFIGS)[number]) => {
    const server = await startVelero({
      veleroDir: env('CAIRN_VELERO_DIR'),
      version: config.version,
      kubeconfig,
      workDir: work,
      bucket,
      s3Url: env('CAIRN_S3_ENDPOINT'),
      accessKeyId: env('AWS_ACCESS_KEY_ID'),
      secretAccessKey: env('AWS_SECRET_ACCESS_KEY'),
      backupSyncPeriod: '2s',
      ...config.flags,
    });
    servers.push(server);
    return server;
  };
  try {
    const veleroBucket = `velero-bench-${Date.now()}`;
    const cairnBucket = `cairn-bench-${Date.now()}`;
    for (const bucket of [veleroBucket, cairnBucket])
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const xdg = await minioConfig(work, cairnBucket);
    const selection = ['--include-namespaces', nsNames.join(',')];

    // Backups, alternating: floor, Velero defaults, Velero tuned, Cairn; `runs` times.
    const backups: Record<string, Row[]> = {};
    const add = (table: Record<string, Row[]>, row: Row) => (table[row.what] ??= []).push(row);
    /** Each Velero version's last backup, restored by that version. */
    const lastVelero: Record<string, string> = {};
    let lastCairn = '';
    for (let run = 1; run <= runs; run++) {
      const floor = await measure([join(root, 'bench', 'floor.ts')], { KUBECONFIG: clusterA });
      const floorItems = (JSON.parse(floor.stdout.trim().split('\n').at(-1) ?? '{}') as { items: number })
        .items;
      add(backups, {
        what: 'floor: page-list every resource at one revision',
        seconds: floor.seconds,
        items: floorItems,
        rssMb: floor.maxRssMb,
      });
      for (const config of CONFIGS) {
        const server = await velero(clusterA, veleroBucket, config);
        const name = `vb-${run}-${Date.now()}`;
        const seconds = await timed(server, ['backup', 'create', name, ...selection, '--wait']);
        const done = await veleroFinished(server, 'backups', name);
        add(backups, {
          what: `velero backup create --wait — ${config.label}`,
          seconds,
          items: done.status?.progress?.itemsBackedUp ?? 0,
          rssMb: veleroPeakRssMb(server),
          note: done.status?.phase,
        });
        lastVelero[config.version] = name;
        await server.stop();
        servers.pop();
      }
      const name = `cb-${run}-${Date.now()}`;
      const made: Measured = await measure(
        [join(root, 'bin', 'cairn.js'), 'backup', 'create', name, ...selection, '-o', 'json'],
        { ...xdg, KUBECONFIG: clusterA },
      );
      const status = (
        JSON.parse(made.stdout) as { status: { phase: string; progress: { itemsBackedUp: number } } }
      ).status;
      add(backups, {
        what: 'cairn backup create (into MinIO, encrypted)',
        seconds: made.seconds,
        items: status.progress.itemsBackedUp,
        rssMb: made.maxRssMb,
        note: status.phase,
      });
      lastCairn = name;
    }

    // Restores into an emptied cluster b, alternating: floor, Velero defaults, Velero tuned, Cairn.
    const restores: Record<string, Row[]> = {};
    if (restoreRuns > 0) {
      const plaintext = join(work, 'archive.tar.gz');
      // The floor creates the objects of Cairn's last backup, downloaded (decrypted) before its clock starts.
      await measure([join(root, 'bin', 'cairn.js'), 'backup', 'download', lastCairn, '-o', plaintext], xdg);
      for (let run = 1; run <= restoreRuns; run++) {
        await emptyTarget();
        const floor = await measure(
          [
            join(root, 'bench', 'restore-floor.ts'),
            plaintext,
            '--concurrency',
            '16',
            '--client-qps',
            '1000',
            '--client-burst',
            '2000',
          ],
          { KUBECONFIG: clusterB },
        );
        const floorResult = JSON.parse(floor.stdout.trim()) as { created: number; seconds: number };
        add(restores, {
          what: 'floor: create the objects directly (qps 1000, 16 at a time)',
          seconds: floorResult.seconds,
          items: floorResult.created,
          rssMb: floor.maxRssMb,
        });
        for (const config of CONFIGS) {
          await emptyTarget();
          const server = await velero(clusterB, veleroBucket, config);
          const synced = await waitForSync(server, lastVelero[config.version] ?? '');
          const name = `vr-${run}-${Date.now()}`;
          const seconds = await timed(server, ['restore', 'create', name, '--from-backup', synced, '--wait']);
          const done = await veleroFinished(server, 'restores', name);
          add(restores, {
            what: `velero restore create --wait — ${config.label}`,
            seconds,
            items: done.status?.progress?.itemsRestored ?? 0,
            rssMb: veleroPeakRssMb(server),
            note: `${done.status?.phase}, ${done.status?.warnings ?? 0} warnings, ${done.status?.errors ?? 0} errors`,
          });
          await server.stop();
          servers.pop();
        }
        await emptyTarget();
        const restored = await measure(
          [
            join(root, 'bin', 'cairn.js'),
            'restore',
            'create',
            `cr-${run}-${Date.now()}`,
            '--from-backup',
            lastCairn,
            '-o',
            'json',
          ],
          { ...xdg, KUBECONFIG: clusterB },
        );
        const status = (JSON.parse(restored.stdout) as Restore).status ?? {};
        add(restores, {
          what: 'cairn restore create',
          seconds: restored.seconds,
          items: status.counts?.created ?? 0,
          rssMb: restored.maxRssMb,
          note: `${status.phase}, ${status.warnings ?? 0} warnings, ${status.errors ?? 0} errors`,
        });
      }
      await emptyTarget();
    }

    const median = (values: number[]) => {
      const sorted = [...values].sort((x, y) => x - y);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const print = (title: string, table: Record<string, Row[]>, cairnKey: string) => {
      console.log('');
      console.log(title);
      console.log('| run | median seconds (each run) | items | items/s | peak RSS | outcome |');
      console.log('| --- | ---: | ---: | ---: | ---: | --- |');
      for (const [what, rows] of Object.entries(table)) {
        const seconds = median(rows.map((r) => r.seconds));
        const items = rows.at(-1)!.items;
        console.log(
          `| ${what} | ${seconds.toFixed(2)} (${rows.map((r) => r.seconds.toFixed(1)).join(', ')}) | ${items} | ${Math.round(items / seconds).toLocaleString('en')} | ${Math.max(...rows.map((r) => r.rssMb)).toFixed(0)} MB | ${rows.map((r) => r.note ?? '').join('; ')} |`,
        );
      }
      const ours = table[cairnKey];
      if (!ours) return;
      const cairnSeconds = median(ours.map((r) => r.seconds));
      const cairnRss = Math.max(...ours.map((r) => r.rssMb));
      for (const [what, rows] of Object.entries(table)) {
        if (what === cairnKey) continue;
        const seconds = median(rows.map((r) => r.seconds));
        const rss = Math.max(...rows.map((r) => r.rssMb));
        console.log(
          `- Cairn vs ${what}: ${(seconds / cairnSeconds).toFixed(2)}x the time (${what.startsWith('floor') ? 'Cairn/floor ' + (cairnSeconds / seconds).toFixed(2) + 'x' : 'Cairn faster by that factor'}), Cairn's peak RSS ${((cairnRss / rss) * 100).toFixed(0)}% of its`,
        );
      }
    };
    print(
      `Backups (${objects} seeded objects in ${namespaces} namespaces; medians of ${runs} runs)`,
      backups,
      'cairn backup create (into MinIO, encrypted)',
    );
    if (restoreRuns > 0)
      print(
        `Restores into an emptied cluster b (medians of ${restoreRuns} runs)`,
        restores,
        'cairn restore create',
      );
  } finally {
    for (const server of servers) await server.stop().catch(() => undefined);
    s3.destroy();
    await rm(work, { recursive: true, force: true });
  }
}

/** Waits until the server has synced `name` from its location; returns the name. */
async function waitForSync(server: VeleroServer, name: string): Promise<string> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const found = await veleroFinished(server, 'backups', name, 1000).catch(() => undefined);
    if (found) return name;
    if (Date.now() > deadline) throw new Error(`Velero did not sync backup ${name} in 5 minutes`);
    await sleep(1000);
  }
}

await main();
