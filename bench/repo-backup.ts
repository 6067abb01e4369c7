// The archiver into a local repository: `node bench/repo-backup.ts [--mib 256] [--files 20000]
// [--file-kib 2] [--concurrency 4] [--runs 3] [--dir /dev/shm] [--stages]`. Writes `--mib` MiB of random
// data as four large files and `--files` small files of about `--file-kib` KiB (100 per directory) under
// `--dir` (default /dev/shm when it exists: tmpfs, so the disk is not what is measured), then backs each
// set up into a new local repository (restic's layout, 16 MiB packs) `--runs` times, each into a fresh
// repository, and prints the best run's MB/s (10^6 bytes a second) and files/s, by wall clock and per CPU
// second of the process (user + system, all threads: the "one core" figure on a busy machine). A second
// backup of the large set with the first as parent shows change detection, and a restore of it the
// restorer's speed. `--stages` also times the per-byte stages alone on the same kind of data (chunker,
// SHA-256, zstd, AES-256-CTR, Poly1305) to show where a backup's time goes. No cluster.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { zstdCompressSync } from 'node:zlib';
import sodium from 'sodium-native';
import {
  Chunker,
  LocalBackend,
  Repository,
  backupDirectory,
  polynomialFromHex,
  polynomialToHex,
  randomPolynomial,
  restoreSnapshot,
  type BackupResult,
} from '../src/repo/index.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    files: { type: 'string', default: '20000' },
    'file-kib': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    dir: { type: 'string' },
    stages: { type: 'boolean', default: false },
  },
});
const MiB = 1024 * 1024;
const largeBytes = Number(values.mib) * MiB;
const smallCount = Number(values.files);
const smallBytes = Number(values['file-kib']) * 1024;
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
const base = values.dir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

const work = await mkdtemp(join(base, 'cairn-bench-backup-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const random = (n: number, seed: number) =>
  createCipheriv('aes-256-ctr', Buffer.alloc(32, seed), Buffer.alloc(16)).update(Buffer.alloc(n));

const large = join(work, 'large');
await mkdir(large);
for (let i = 0; i < 4; i++) await writeFile(join(large, `file-${i}`), random(largeBytes / 4, i + 1));
const small = join(work, 'small');
{
  const data = random(smallCount * smallBytes + smallCount, 99);
  for (let d = 0; d * 100 < smallCount; d++) {
    const dir = join(small, `dir-${String(d).padStart(4, '0')}`);
    await mkdir(dir, { recursive: true });
    for (let f = d * 100; f < Math.min(smallCount, (d + 1) * 100); f++) {
      const size = smallBytes - 512 + (f % 1024); // different sizes and contents
      await writeFile(join(dir, `f-${f}`), data.subarray(f * smallBytes, f * smallBytes + size));
    }
  }
}

async function newRepo(): Promise<Repository> {
  const root = await mkdtemp(join(work, 'repo-'));
  const polynomial = polynomialToHex(randomPolynomial((n) => randomBytes(n)));
  return Repository.init(new LocalBackend({ root }), {
    password: 'bench',
    polynomial,
    keyParams: { N: 1024, r: 8, p: 1 },
  });
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
  result: BackupResult;
}

async function measure(source: string, repo?: Repository, parent?: string): Promise<Measured> {
  const into = repo ?? (await newRepo());
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await backupDirectory(into, { source, concurrency, ...(parent ? { parent } : {}) });
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  if (result.errors.length) throw new Error(`backup errors: ${JSON.stringify(result.errors.slice(0, 3))}`);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6, result };
}

function best(all: Measured[]): Measured {
  return all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

console.log(
  `node ${process.version}, data in ${base}, concurrency ${concurrency}, load average ${loadavg()[0]?.toFixed(2)}`,
);
const largeRuns: Measured[] = [];
for (let i = 0; i < runs; i++) largeRuns.push(await measure(large));
const l = best(largeRuns);
const mb = largeBytes / 1e6;
console.log(
  `large files: ${values.mib} MiB in 4 files: best ${(mb / l.seconds).toFixed(0)} MB/s wall, ` +
    `${(mb / l.cpuSeconds).toFixed(0)} MB per CPU second (runs: ${largeRuns.map((r) => (mb / r.seconds).toFixed(0)).join(' ')} MB/s); ` +
    `${l.result.stats.dataBlobsAdded} blobs`,
);
{
  const repo = await newRepo();
  const first = await measure(large, repo);
  const again = await measure(large, repo, first.result.snapshotId);
  console.log(
    `large files with a parent, unchanged: ${again.seconds.toFixed(3)} s, ${again.result.stats.bytesRead} bytes read`,
  );
}
/** Restores a snapshot into a new directory (removed afterwards): wall and CPU seconds. */
async function measureRestore(
  repo: Repository,
  snapshotId: string,
): Promise<{ seconds: number; cpuSeconds: number }> {
  const target = await mkdtemp(join(work, 'restore-'));
  const cpu = process.cpuUsage();
  const start = performance.now();
  const restored = await restoreSnapshot(repo, { snapshotId, target });
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  if (restored.problems.length) throw new Error(`restore problems: ${JSON.stringify(restored.problems)}`);
  rmSync(target, { recursive: true, force: true });
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}
{
  // Restoring the large set: blobs read by range from the packs, verified, written.
  const repo = await newRepo();
  const { result } = await measure(large, repo);
  const { seconds, cpuSeconds } = await measureRestore(repo, result.snapshotId);
  console.log(
    `restore of the large files: ${(mb / seconds).toFixed(0)} MB/s wall, ` +
      `${(mb / cpuSeconds).toFixed(0)} MB per CPU second`,
  );
}
const smallRuns: Measured[] = [];
for (let i = 0; i < runs; i++) smallRuns.push(await measure(small));
const s = best(smallRuns);
console.log(
  `small files: ${smallCount} of ~${values['file-kib']} KiB: best ${(smallCount / s.seconds).toFixed(0)} files/s wall, ` +
    `${(smallCount / s.cpuSeconds).toFixed(0)} files per CPU second (runs: ${smallRuns.map((r) => (smallCount / r.seconds).toFixed(0)).join(' ')} files/s)`,
);
{
  // Restoring the small files (from the last run's repository): files written, metadata set, renamed.
  const repo = await newRepo();
  const { result } = await measure(small, repo);
  const restoreRuns: { seconds: number; cpuSeconds: number }[] = [];
  for (let i = 0; i < runs; i++) restoreRuns.push(await measureRestore(repo, result.snapshotId));
  const r = restoreRuns.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  console.log(
    `restore of the small files: best ${(smallCount / r.seconds).toFixed(0)} files/s wall, ` +
      `${(smallCount / r.cpuSeconds).toFixed(0)} files per CPU second (runs: ${restoreRuns.map((x) => (smallCount / x.seconds).toFixed(0)).join(' ')} files/s)`,
  );
}

if (values.stages) {
  // The per-byte stages alone, on 64 MiB of the same kind of data cut into 1 MiB pieces: ms per MB.
  const data = random(64 * MiB, 7);
  const pieces = Array.from({ length: 64 }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));
  const time = (name: string, work: () => void) => {
    let fastest = Infinity;
    for (let run = 0; run < 3; run++) {
      const start = performance.now();
      work();
      fastest = Math.min(fastest, performance.now() - start);
    }
    console.log(`  ${name.padEnd(10)} ${(fastest / (data.length / 1e6)).toFixed(2)} ms/MB`);
  };
  const chunker = new Chunker(polynomialFromHex('3da3358b4dc173')); // restic/chunker's test polynomial
  console.log('stages, one core:');
  time('chunker', () => {
    const splitter = chunker.split();
    for (const piece of pieces) for (let at = 0; at >= 0 && at < piece.length;) at = splitter.next(piece, at);
  });
  time('sha-256', () => {
    for (const piece of pieces) createHash('sha256').update(piece).digest();
  });
  time('zstd -3', () => {
    for (const piece of pieces) zstdCompressSync(piece);
  });
  const key = randomBytes(32);
  time('aes-ctr', () => {
    for (const piece of pieces) createCipheriv('aes-256-ctr', key, randomBytes(16)).update(piece);
  });
  const tag = Buffer.alloc(16);
  time('poly1305', () => {
    for (const piece of pieces) sodium.crypto_onetimeauth(tag, piece, key);
  });
}
