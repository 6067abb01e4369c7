// `npm run bench -- backup [--objects 10000] [--namespaces 100] [--runs 3] [--cpu-prof-dir <dir>]`
//
// Seeds the testbed cluster with mixed objects of realistic sizes across namespaces (once; reused by later
// runs), then measures in one run:
//   (a) the floor: page-listing every resource at one revision with Cairn's client, doing nothing else;
//   (b) `cairn backup create` of the whole cluster into MinIO (encrypted, as by default).
// Each runs in its own process; the peak RSS of each is reported. Not a test: it prints, it asserts nothing.
// `seed` is exported for the restore benchmark (bench/restore.ts), which seeds the same mix of objects.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { KubeClient, loadKubeConfig, type KubeList } from '../src/kube/index.ts';
import { measure, type Measured } from './measure.ts';
import { env, minioConfig } from './setup.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const objects = flag('objects', 10_000);
const runs = Math.max(1, flag('runs', 3));
const profileDir = args.includes('--cpu-prof-dir')
  ? resolve(args[args.indexOf('--cpu-prof-dir') + 1] ?? '.')
  : undefined;
const namespaces = flag('namespaces', 100);

/** A realistic mix: ConfigMaps of 1-8 KiB, Secrets, Services and ServiceAccounts. */
function objectFor(i: number, ns: string): { path: string; body: unknown } {
  const kind = i % 20;
  const name = `obj-${String(i).padStart(6, '0')}`;
  const labels = { app: `app-${i % 7}`, tier: i % 2 ? 'web' : 'db', 'bench.cairn.dev/seed': 'true' };
  if (kind < 10) {
    return {
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: {
        metadata: { name, labels },
        data: { 'config.yaml': randomBytes(512 + (i % 8) * 512).toString('base64') },
      },
    };
  }
  if (kind < 15) {
    return {
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name, labels }, data: { token: randomBytes(768).toString('base64') } },
    };
  }
  if (kind < 18) {
    return {
      path: `/api/v1/namespaces/${ns}/services`,
      body: {
        metadata: { name, labels },
        spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
      },
    };
  }
  return { path: `/api/v1/namespaces/${ns}/serviceaccounts`, body: { metadata: { name, labels } } };
}

export interface SeedOptions {
  client: KubeClient;
  objects: number;
  namespaces: number;
  /** Namespaces are named <prefix>000, <prefix>001, ... Default "bench-". */
  prefix?: string;
}

/**
 * Creates `objects` objects (objectFor's mix) in `namespaces` namespaces, unless those namespaces already
 * hold at least objects/2 ConfigMaps (half the mix is ConfigMaps): then they are reused.
 */
export async function seed(options: SeedOptions): Promise<void> {
  const { client, objects, namespaces } = options;
  const nsName = (n: number) => `${options.prefix ?? 'bench-'}${String(n).padStart(3, '0')}`;
  // Counted per namespace without a label selector: with a selector the API server leaves out
  // remainingItemCount, and a cluster-wide count would also count the other benchmarks' seeded objects.
  const counts = await Promise.all(
    Array.from({ length: namespaces }, async (_, n) => {
      const res = await client.send({
        path: `/api/v1/namespaces/${nsName(n)}/configmaps`,
        query: { limit: 1 },
      });
      if (res.status !== 200) return 0;
      const list = JSON.parse(res.body.toString()) as KubeList;
      return list.items.length + (list.metadata.remainingItemCount ?? 0);
    }),
  );
  const seeded = counts.reduce((a, b) => a + b, 0);
  if (seeded >= objects / 2) {
    console.log(`seed: reusing ${seeded} ConfigMaps already in ${nsName(0)}..${nsName(namespaces - 1)}`);
    return;
  }
  const started = performance.now();
  for (let n = 0; n < namespaces; n++) {
    await client.send({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: nsName(n), labels: { 'bench.cairn.dev/seed': 'true' } } },
    });
  }
  let next = 0;
  const worker = async () => {
    while (next < objects) {
      const i = next++;
      const { path, body } = objectFor(i, nsName(i % namespaces));
      const res = await client.send({ method: 'POST', path, body });
      if (res.status !== 201 && res.status !== 409)
        throw new Error(`seeding ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  console.log(
    `seed: ${objects} objects in ${namespaces} namespaces in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

async function main(): Promise<void> {
  await seed({
    client: new KubeClient(loadKubeConfig({ env: process.env }), { qps: 0, burst: 1000 }),
    objects,
    namespaces,
  });
  const work = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
  try {
    const bucket = `bench-${randomBytes(4).toString('hex')}`;
    const s3 = new S3Client({
      endpoint: env('CAIRN_S3_ENDPOINT'),
      forcePathStyle: true,
      region: process.env.AWS_REGION ?? 'us-east-1',
      credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: env('AWS_SECRET_ACCESS_KEY') },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const xdg = await minioConfig(work, bucket);

    // Floor and backup alternate, `runs` times: a run disturbed by the machine shows up as one outlier,
    // and the medians are compared.
    const rows: { floor: Measured; backup: Measured; floorItems: number; items: number; phase: string }[] =
      [];
    for (let run = 1; run <= runs; run++) {
      const floor = await measure([join(root, 'bench', 'floor.ts')]);
      const floorItems = (JSON.parse(floor.stdout.trim().split('\n').at(-1) ?? '{}') as { items: number })
        .items;
      const backup = await measure(
        [
          ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
          join(root, 'bin', 'cairn.js'),
          'backup',
          'create',
          `bench-${Date.now()}`,
          '-o',
          'json',
        ],
        xdg,
      );
      const status = (
        JSON.parse(backup.stdout) as { status: { phase: string; progress: { itemsBackedUp: number } } }
      ).status;
      rows.push({ floor, backup, floorItems, items: status.progress.itemsBackedUp, phase: status.phase });
    }

    const rate = (n: number, s: number) => Math.round(n / s).toLocaleString('en-US');
    const cpu = (m: Measured) => `${m.cpuSeconds.toFixed(2)} s | ${Math.round(m.machineBusy * 100)}%`;
    const last = rows.at(-1)!;
    console.log('');
    console.log(
      `backup benchmark: ${last.items} objects backed up (phase ${rows.map((r) => r.phase).join(', ')}); ${last.floorItems} listed by the floor`,
    );
    console.log('| run | seconds | objects/s | peak RSS | its CPU | machine busy |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const [i, row] of rows.entries()) {
      console.log(
        `| run ${i + 1} — floor: page-list every resource at one revision | ${row.floor.seconds.toFixed(2)} | ${rate(row.floorItems, row.floor.seconds)} | ${row.floor.maxRssMb.toFixed(0)} MB | ${cpu(row.floor)} |`,
      );
      console.log(
        `| run ${i + 1} — \`cairn backup create\` (everything, into MinIO, encrypted) | ${row.backup.seconds.toFixed(2)} | ${rate(row.items, row.backup.seconds)} | ${row.backup.maxRssMb.toFixed(0)} MB | ${cpu(row.backup)} |`,
      );
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const floorSeconds = median(rows.map((r) => r.floor.seconds));
    const backupSeconds = median(rows.map((r) => r.backup.seconds));
    console.log('');
    console.log(
      `medians of ${runs} runs: floor ${floorSeconds.toFixed(2)} s, backup ${backupSeconds.toFixed(2)} s; ` +
        `peak RSS ${Math.max(...rows.map((r) => r.floor.maxRssMb)).toFixed(0)} MB (floor), ${Math.max(...rows.map((r) => r.backup.maxRssMb)).toFixed(0)} MB (backup)`,
    );
    console.log(
      `ratio backup/floor: ${(backupSeconds / floorSeconds).toFixed(2)}x (target: within 1.5x); per run: ${rows.map((r) => (r.backup.seconds / r.floor.seconds).toFixed(2)).join(', ')}`,
    );
    console.log(
      `backup rate: ${rate(last.items, backupSeconds)} objects/s (target: >= 2,000; Velero's published figures: 3-170 objects/s)`,
    );
    console.log('Both times include process start-up (node, module loading) and discovery.');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
