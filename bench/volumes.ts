// The volume-data benchmark: Cairn's file-system backup of a volume against restic and kopia, on the same
// data and the same MinIO, in one run. `npm run bench -- volumes [--size 2G] [--seed 1] [--dir DIR]
// [--rounds N] [--no-kopia] [--no-half] [--keep]`.
//
// The dataset (deterministic from --seed, written to disk under --dir: the system's temporary directory,
// or /var/tmp when that is tmpfs) is --size bytes: 10% small files (256 B - 8 KiB, 100 to a directory),
// 20% medium files (16 KiB - 4 MiB), 55% in six large files, and 15% duplicated content (a large file
// again behind 4 KiB of other bytes, and copies of medium files); a third of the large and medium files
// and half the small ones are text (compressible), the rest random bytes. Every tool, taking turns step by
// step, each in its own process measured by /usr/bin/time (wall time, peak RSS, CPU):
//
// 1. backs the dataset up into a new repository on MinIO (MB/s and files/s);
// 2. backs up the small files alone into another new repository (files/s);
// 3. after 1% of the data changed (1% of the small and medium files rewritten, 1% of each large file
//    overwritten in its middle), backs the dataset up again into the first repository (incremental);
// 4. restores that latest snapshot into an empty directory on the same disk (checked: files and bytes).
//
// With --rounds N (default 1) every step runs N times, the tools in turn in one order, then the other
// (the incremental after another 1% changed each time); the table has each tool's fastest run (and its
// largest peak RSS). Restored directories stay until the end: on ext4 without a journal, files made just
// after tens of thousands were deleted cost several times the system CPU (the allocator steps over the
// recently deleted inodes), which would punish whichever tool came next.
//
// Cairn is bench/volumes-cairn.ts (backupDirectory and restoreSnapshot over StoreBackend over the S3 store,
// the product's defaults); restic is Debian's (`restic` on PATH), its s3 backend with --compression auto,
// its cache in the run's directory; kopia is built from its Go module (testbed/scripts/build.sh kopia,
// cached) with zstd-fastest compression (restic's "auto" level) and its cache in the run's directory; when
// it cannot be built the run says why and goes on without it. Cairn alone also backs up a half-size dataset,
// to show its memory flat in dataset size. The data stays in the page cache for every tool (24 GiB of memory).
import { execFile, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

const root = join(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '2G' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string' },
    'no-kopia': { type: 'boolean', default: false },
    'no-half': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
  },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10)
  throw new Error(`--rounds ${values.rounds}: give a whole number from 1 to 10`);

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) throw new Error(`--size ${text}: give bytes, or a number with K, M, G (binary units)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2]!.toUpperCase()]!;
  return Math.round(Number(m[1]) * unit);
}
const MiB = 1024 * 1024;
const totalSize = parseSize(values.size);
const seed = Number(values.seed);
const env = (name: string) => {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run through npm run bench, or in the testbed's environment`);
  return value;
};
const mb = (bytes: number) => bytes / 1e6;

// --- The dataset -------------------------------------------------------------------------------------

type Kind = 'random' | 'text';
interface FileSpec {
  path: string;
  size: number;
  /** The content's own seed: the same seed and kind give the same bytes. */
  seed: number;
  kind: Kind;
  /** Bytes of other content before it (a shifted duplicate). */
  shift?: number;
  group: 'small' | 'medium' | 'large' | 'dup';
}

/** mulberry32: a small deterministic PRNG for sizes and choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function plan(size: number, seed: number): FileSpec[] {
  const rand = prng(seed);
  const specs: FileSpec[] = [];
  let next = seed * 1_000_003;
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  // Small files: 10%.
  for (let i = 0, bytes = 0; bytes < size * 0.1; i++) {
    const s = 256 + Math.floor(rand() * 8 * 1024);
    specs.push({
      path: `small/d${pad(Math.floor(i / 100), 4)}/f${pad(i, 6)}`,
      size: s,
      seed: next++,
      kind: i % 2 ? 'text' : 'random',
      group: 'small',
    });
    bytes += s;
  }
  // Medium files: 20%, log-uniform between 16 KiB and 4 MiB.
  const medium: FileSpec[] = [];
  for (let i = 0, bytes = 0; bytes < size * 0.2; i++) {
    const s = Math.floor(16 * 1024 * Math.exp(rand() * Math.log(256)));
    medium.push({
      path: `medium/d${pad(Math.floor(i / 50), 3)}/m${pad(i, 5)}`,
      size: s,
      seed: next++,
      kind: i % 3 === 2 ? 'text' : 'random',
      group: 'medium',
    });
    bytes += s;
  }
  specs.push(...medium);
  // Large files: 55% in six.
  const largeSize = Math.floor((size * 0.55) / 6);
  const large: FileSpec[] = [];
  for (let i = 0; i < 6; i++)
    large.push({
      path: `large/l${i}`,
      size: largeSize,
      seed: next++,
      kind: i % 3 === 2 ? 'text' : 'random',
      group: 'large',
    });
  specs.push(...large);
  // Duplicated content: 15% — the first large file behind 4 KiB of other bytes, then copies of medium files.
  const first = large[0]!;
  specs.push({ ...first, path: 'dup/shifted-l0', size: first.size + 4096, shift: 4096, group: 'dup' });
  let dupBytes = first.size + 4096;
  for (let i = 0; dupBytes < size * 0.15 && i < medium.length; i += 3) {
    const m = medium[i]!;
    specs.push({ ...m, path: `dup/copies/${m.path.replaceAll('/', '-')}`, group: 'dup' });
    dupBytes += m.size;
  }
  return specs;
}

const WORDS = Array.from({ length: 256 }, (_, i) =>
  createHash('sha256')
    .update(`word${i}`)
    .digest('base64')
    .replace(/[^a-z]/gi, '')
    .slice(0, 2 + (i % 9))
    .toLowerCase(),
);

/** Bytes [0, length) of a content stream of (seed, kind), in pieces of at most 1 MiB. */
function* content(contentSeed: number, kind: Kind, length: number): Generator<Buffer> {
  const key = createHash('sha256').update(`cairn-bench-volumes:${contentSeed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  for (let done = 0; done < length;) {
    const n = Math.min(MiB, length - done);
    if (kind === 'random') {
      yield cipher.update(Buffer.alloc(n));
    } else {
      // Words from a small vocabulary, a newline every 12 or so: compresses about 3x.
      const r = cipher.update(Buffer.alloc(n));
      const out = Buffer.allocUnsafe(n);
      let o = 0;
      for (let i = 0; o < n; i++) {
        const word = WORDS[r[i % n]!]!;
        o += out.write(word, o, 'latin1');
        if (o < n) out[o++] = r[(i + 7) % n]! < 21 ? 10 : 32;
      }
      yield out;
    }
    done += n;
  }
}

async function writeSpec(dir: string, spec: FileSpec): Promise<void> {
  const path = join(dir, spec.path);
  if (spec.size <= MiB && !spec.shift) {
    await writeFile(path, Buffer.concat([...content(spec.seed, spec.kind, spec.size)]));
    return;
  }
  const file = await open(path, 'w');
  try {
    if (spec.shift)
      for (const piece of content(spec.seed ^ 0x5a5a5a, 'random', spec.shift)) await file.write(piece);
    for (const piece of content(spec.seed, spec.kind, spec.size - (spec.shift ?? 0))) await file.write(piece);
  } finally {
    await file.close();
  }
}

async function generate(dir: string, specs: FileSpec[]): Promise<void> {
  const dirs = new Set(specs.map((s) => join(dir, s.path, '..')));
  for (const d of dirs) await mkdir(d, { recursive: true });
  let next = 0;
  const worker = async () => {
    while (next < specs.length) await writeSpec(dir, specs[next++]!);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/**
 * Changes 1% of the data's bytes: rewrites 1% of the small and of the medium files (new contents, same
 * sizes), then overwrites a region in the middle of each large file, together the rest of the 1%.
 */
/** Changes 1% of the data; each `round` writes other bytes. */
async function mutate(
  dir: string,
  specs: FileSpec[],
  round: number,
): Promise<{ files: number; bytes: number }> {
  const goal = specs.reduce((sum, s) => sum + s.size, 0) / 100;
  let files = 0;
  let bytes = 0;
  for (const [i, spec] of specs.entries()) {
    if ((spec.group === 'small' || spec.group === 'medium') && i % 100 === 37) {
      await writeSpec(dir, { ...spec, seed: spec.seed + 0x7fffffff * round });
      files++;
      bytes += spec.size;
    }
  }
  const large = specs.filter((s) => s.group === 'large');
  const perLarge = Math.min(Math.max(0, Math.floor((goal - bytes) / large.length)), large[0]?.size ?? 0);
  for (const spec of large) {
    const n = perLarge;
    if (n === 0) continue;
    const file = await open(join(dir, spec.path), 'r+');
    try {
      let at = Math.floor((spec.size - n) / 2);
      for (const piece of content(spec.seed + 0x7fffffff * round, 'random', n)) {
        await file.write(piece, 0, piece.length, at);
        at += piece.length;
      }
    } finally {
      await file.close();
    }
    files++;
    bytes += n;
  }
  return { files, bytes };
}

/** Regular files and their bytes under `dir`. */
async function count(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        files++;
        bytes += (await lstat(path)).size;
      }
    }
  };
  await walk(dir);
  return { files, bytes };
}

// --- Measuring a process ---------------------------------------------------------------------------------

interface Run {
  stdout: string;
  seconds: number;
  rssMb: number;
  cpuSeconds: number;
  load: number;
}

/** Runs `command` under /usr/bin/time: wall time, peak RSS (the largest process), user + system CPU. */
function run(command: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const timeFile = join(work, `time-${randomBytes(4).toString('hex')}`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      '/usr/bin/time',
      ['-f', '%e %M %U %S', '-o', timeFile, ...command],
      { cwd: root, env: { ...process.env, ...extraEnv }, maxBuffer: 256 * MiB },
      (error, stdout, stderr) => {
        const seconds = (performance.now() - started) / 1000;
        if (error) {
          reject(new Error(`${command.join(' ')} failed: ${stderr.slice(-3000)}`));
          return;
        }
        const [, rssKb, user, sys] = readFileSync(timeFile, 'utf8')
          .trim()
          .split('\n')
          .at(-1)!
          .split(' ')
          .map(Number);
        rmSync(timeFile, { force: true });
        resolve({
          stdout,
          seconds,
          rssMb: rssKb! / 1024,
          cpuSeconds: user! + sys!,
          load: loadavg()[0] ?? NaN,
        });
      },
    );
  });
}

// --- The tools ---------------------------------------------------------------------------------------------

interface Tool {
  name: string;
  /** Makes a new, empty repository `repo` (untimed). */
  init(repo: string): Promise<void>;
  backup(repo: string, source: string): Promise<Run>;
  restore(repo: string, target: string): Promise<Run>;
  /** The key prefix of `repo` in the bucket. */
  prefix(repo: string): string;
}

const work = await mkdtemp(join(values.dir ?? dataBase(), 'cairn-bench-volumes-'));
const bucket = `cairn-bench-volumes-${Date.now()}`;
const endpoint = env('CAIRN_S3_ENDPOINT');
const s3 = new S3Client({
  endpoint,
  region: env('AWS_REGION'),
  forcePathStyle: true,
  credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: env('AWS_SECRET_ACCESS_KEY') },
});

/** The system's temporary directory, or /var/tmp when that is tmpfs (the data is to be read from disk). */
function dataBase(): string {
  const TMPFS_MAGIC = 0x01021994;
  const base = tmpdir();
  return statfsSync(base).type === TMPFS_MAGIC ? '/var/tmp' : base;
}

// As bin/cairn.js runs the node agent: with Node's compile cache, for the process and its worker threads.
const cairnEnv = { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache') };
const cairn: Tool = {
  name: 'Cairn',
  async init() {}, // the first backup makes the repository, as a volume's first backup does
  backup: (repo, source) =>
    run(
      [process.execPath, 'bench/volumes-cairn.ts', 'backup', ...cairnArgs(repo), '--source', source],
      cairnEnv,
    ),
  restore: (repo, target) =>
    run(
      [process.execPath, 'bench/volumes-cairn.ts', 'restore', ...cairnArgs(repo), '--target', target],
      cairnEnv,
    ),
  prefix: (repo) => `restic/${repo}/`,
};
const cairnPassword = randomBytes(16).toString('hex');
const cairnArgs = (repo: string) => ['--bucket', bucket, '--namespace', repo, '--password', cairnPassword];

const resticEnv = (repo: string) => ({
  RESTIC_REPOSITORY: `s3:${endpoint}/${bucket}/restic-${repo}`,
  RESTIC_PASSWORD: cairnPassword,
  RESTIC_CACHE_DIR: join(work, 'restic-cache'),
});
const restic: Tool = {
  name: 'restic',
  async init(repo) {
    await run(['restic', 'init', '--repository-version', '2'], resticEnv(repo));
  },
  backup: (repo, source) =>
    run(['restic', 'backup', '--compression', 'auto', '--json', '--host', 'bench', source], resticEnv(repo)),
  restore: (repo, target) => run(['restic', 'restore', 'latest', '--target', target], resticEnv(repo)),
  prefix: (repo) => `restic-${repo}/`,
};

function kopiaTool(binary: string): Tool {
  const config = (repo: string) => ['--config-file', join(work, `kopia-${repo}.config`)];
  const kopiaEnv = { KOPIA_PASSWORD: cairnPassword, KOPIA_CHECK_FOR_UPDATES: 'false' };
  const host = new URL(endpoint).host;
  const snapshots = new Map<string, string>();
  return {
    name: 'kopia',
    async init(repo) {
      await run(
        [
          binary,
          'repository',
          'create',
          's3',
          ...config(repo),
          '--bucket',
          bucket,
          '--prefix',
          `kopia-${repo}/`,
          '--endpoint',
          host,
          '--disable-tls',
          '--region',
          env('AWS_REGION'),
          '--cache-directory',
          join(work, `kopia-cache-${repo}`),
        ],
        kopiaEnv,
      );
      await run(
        [binary, 'policy', 'set', '--global', '--compression', 'zstd-fastest', ...config(repo)],
        kopiaEnv,
      );
    },
    async backup(repo, source) {
      const result = await run([binary, 'snapshot', 'create', '--json', ...config(repo), source], kopiaEnv);
      const manifest = JSON.parse(result.stdout) as { rootEntry: { obj: string } };
      snapshots.set(repo, manifest.rootEntry.obj);
      return result;
    },
    async restore(repo, target) {
      // Every restore reads from the store: kopia keeps the contents it read in its cache, and a second
      // restore read most of them from there (2 GiB: 52 s, then a few seconds), which no other tool does.
      await run([binary, 'cache', 'clear', ...config(repo)], kopiaEnv);
      return run([binary, 'restore', ...config(repo), snapshots.get(repo)!, target], kopiaEnv);
    },
    prefix: (repo) => `kopia-${repo}/`,
  };
}

/** Builds kopia (cached), or says why not. */
function buildKopia(): Tool | string {
  const built = spawnSync('bash', [join(root, 'testbed', 'scripts', 'build.sh'), 'kopia'], {
    encoding: 'utf8',
  });
  const dir = /^kopia=(.*)$/m.exec(built.stdout)?.[1];
  const binary = dir && join(dir, 'kopia');
  if (built.status !== 0 || !binary || !existsSync(binary))
    return `testbed/scripts/build.sh kopia failed: ${(built.stderr || built.stdout).trim().split('\n').slice(-6).join(' | ')}`;
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return `${binary} --version failed: ${version.stderr.trim()}`;
  console.log(`kopia ${version.stdout.trim().split(' ')[0]} (${binary})`);
  return kopiaTool(binary);
}

async function repositoryBytes(prefix: string): Promise<number> {
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) bytes += object.Size ?? 0;
    token = page.NextContinuationToken;
  } while (token);
  return bytes;
}

async function emptyBucket(): Promise<void> {
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    token = page.NextContinuationToken;
  } while (token);
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

// --- The run ------------------------------------------------------------------------------------------------

const sync = () => spawnSync('sync');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  if (values.keep) {
    console.log(`kept: ${work}, bucket ${bucket}`);
    return;
  }
  await rm(work, { recursive: true, force: true });
  await emptyBucket().catch((error: unknown) =>
    console.error(`could not remove bucket ${bucket}: ${String(error)}`),
  );
};
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));

try {
  const fsType = spawnSync('stat', ['-f', '-c', '%T', work], { encoding: 'utf8' }).stdout.trim();
  console.log(
    `node ${process.version}, ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB; ` +
      `data in ${work} (${fsType}); MinIO ${endpoint}, bucket ${bucket}; load average ${load()}`,
  );
  console.log(spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.trim());
  const tools: Tool[] = [cairn, restic];
  if (!values['no-kopia']) {
    const kopia = buildKopia();
    if (typeof kopia === 'string') console.log(`kopia: left out — ${kopia}`);
    else tools.push(kopia);
  }
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));

  const specs = plan(totalSize, seed);
  const data = join(work, 'data');
  let started = performance.now();
  await generate(data, specs);
  sync();
  const before = await count(data);
  const small = await count(join(data, 'small'));
  console.log(
    `dataset: ${before.files} files, ${(before.bytes / MiB).toFixed(0)} MiB (${small.files} small files, ` +
      `${(small.bytes / MiB).toFixed(0)} MiB), written in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const results = new Map<string, Record<string, Run | number>>(tools.map((t) => [t.name, {}]));
  const row = (tool: Tool) => results.get(tool.name)!;
  /** The tools in turn: first to last in odd rounds, last to first in even ones. */
  const turns = (round: number) => (round % 2 === 1 ? tools : [...tools].reverse());
  const label = (what: string, round: number) => (rounds > 1 ? `${what} #${round}` : what);
  /** Keeps a tool's fastest run of a step, with the largest peak RSS of its runs. */
  const keep = (tool: Tool, key: string, r: Run) => {
    const before = row(tool)[key] as Run | undefined;
    const rssMb = Math.max(r.rssMb, before?.rssMb ?? 0);
    row(tool)[key] = { ...(before && before.seconds <= r.seconds ? before : r), rssMb };
  };
  const say = (tool: Tool, what: string, r: Run, extra = '') =>
    console.log(
      `  ${tool.name.padEnd(6)} ${what}: ${r.seconds.toFixed(2)} s, peak RSS ${r.rssMb.toFixed(0)} MB, ` +
        `CPU ${r.cpuSeconds.toFixed(1)} s${extra}, load ${r.load.toFixed(2)}`,
    );

  console.log('full backup:');
  for (let round = 1; round <= rounds; round++)
    for (const tool of turns(round)) {
      const repo = round === 1 ? 'full' : `full${round}`;
      await tool.init(repo);
      const r = await tool.backup(repo, data);
      keep(tool, 'full', r);
      say(
        tool,
        label('full', round),
        r,
        `, ${(mb(before.bytes) / r.seconds).toFixed(1)} MB/s, ${(before.files / r.seconds).toFixed(0)} files/s`,
      );
    }
  if (!values['no-half']) {
    const half = join(work, 'half');
    started = performance.now();
    await generate(half, plan(Math.floor(totalSize / 2), seed + 1));
    sync();
    const h = await count(half);
    const r = await cairn.backup('half', half);
    row(cairn).half = r;
    row(cairn).halfBytes = h.bytes;
    say(
      cairn,
      `half-size dataset (${h.files} files, ${(h.bytes / MiB).toFixed(0)} MiB)`,
      r,
      `, ${(mb(h.bytes) / r.seconds).toFixed(1)} MB/s`,
    );
    await rm(half, { recursive: true, force: true });
  }
  console.log(`small files alone (${small.files}):`);
  for (let round = 1; round <= rounds; round++)
    for (const tool of turns(round)) {
      const repo = round === 1 ? 'small' : `small${round}`;
      await tool.init(repo);
      const r = await tool.backup(repo, join(data, 'small'));
      keep(tool, 'small', r);
      say(tool, label('small', round), r, `, ${(small.files / r.seconds).toFixed(0)} files/s`);
    }
  for (let round = 1; round <= rounds; round++) {
    const changed = await mutate(data, specs, round);
    sync();
    console.log(
      `${label('incremental', round)}, after changing ${changed.files} files, ${(changed.bytes / MiB).toFixed(1)} MiB (${((100 * changed.bytes) / before.bytes).toFixed(2)}%):`,
    );
    for (const tool of turns(round)) {
      const r = await tool.backup('full', data);
      keep(tool, 'incremental', r);
      say(tool, label('incremental', round), r);
    }
  }
  const after = await count(data);
  console.log('restore of the latest snapshot:');
  for (let round = 1; round <= rounds; round++)
    for (const tool of turns(round)) {
      const target = join(work, `restore-${tool.name}-${round}`);
      await mkdir(target);
      const r = await tool.restore('full', target);
      sync();
      const got = await count(target);
      const ok = got.files === after.files && got.bytes === after.bytes;
      keep(tool, 'restore', r);
      say(
        tool,
        label('restore', round),
        r,
        `, ${(mb(after.bytes) / r.seconds).toFixed(1)} MB/s, ${got.files} files, ${got.bytes} bytes${ok ? '' : ' — MISMATCH'}`,
      );
    }
  for (const tool of tools) {
    row(tool).repoBytes = await repositoryBytes(tool.prefix('full'));
    row(tool).smallRepoBytes = await repositoryBytes(tool.prefix('small'));
  }

  // The table: one column per tool, then Cairn's ratios to each other tool.
  const get = (tool: Tool, key: string) => row(tool)[key] as Run;
  const metrics: [string, (t: Tool) => number, number][] = [
    ['full backup, s', (t) => get(t, 'full').seconds, 2],
    ['full backup, MB/s', (t) => mb(before.bytes) / get(t, 'full').seconds, 1],
    ['full backup, files/s', (t) => before.files / get(t, 'full').seconds, 0],
    ['full backup, CPU s', (t) => get(t, 'full').cpuSeconds, 1],
    [`small files alone, files/s`, (t) => small.files / get(t, 'small').seconds, 0],
    ['incremental (1% changed), s', (t) => get(t, 'incremental').seconds, 2],
    ['restore, s', (t) => get(t, 'restore').seconds, 2],
    ['restore, MB/s', (t) => mb(after.bytes) / get(t, 'restore').seconds, 1],
    ['repository size, MB', (t) => mb(row(t).repoBytes as number), 0],
    ['peak RSS, full backup, MB', (t) => get(t, 'full').rssMb, 0],
    ['peak RSS, small files, MB', (t) => get(t, 'small').rssMb, 0],
    ['peak RSS, incremental, MB', (t) => get(t, 'incremental').rssMb, 0],
    ['peak RSS, restore, MB', (t) => get(t, 'restore').rssMb, 0],
    ['load average (1 min) after the full backup', (t) => get(t, 'full').load, 2],
  ];
  const others = tools.slice(1);
  const header = ['', ...tools.map((t) => t.name), ...others.map((t) => `Cairn/${t.name}`)];
  const lines = metrics.map(([label, f, digits]) => [
    label,
    ...tools.map((t) =>
      f(t).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }),
    ),
    ...others.map((t) => (label.startsWith('load') ? '' : (f(cairn) / f(t)).toFixed(2))),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...lines].map((l) => l[i]!.length)));
  const format = (l: string[]) =>
    `| ${l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(
    `\n${before.files} files, ${(before.bytes / MiB).toFixed(0)} MiB (${small.files} small); load average now ${load()}`,
  );
  console.log(format(header));
  console.log(`| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : '-'.repeat(w - 1) + ':')).join(' | ')} |`);
  for (const l of lines) console.log(format(l));
  if (row(cairn).half) {
    const h = get(cairn, 'half');
    const f = get(cairn, 'full');
    console.log(
      `Cairn's peak RSS: ${h.rssMb.toFixed(0)} MB backing up ${((row(cairn).halfBytes as number) / MiB).toFixed(0)} MiB, ` +
        `${f.rssMb.toFixed(0)} MB backing up ${(before.bytes / MiB).toFixed(0)} MiB (${(f.rssMb / h.rssMb).toFixed(2)}x for 2x the data)`,
    );
  }
} finally {
  await cleanup();
}
