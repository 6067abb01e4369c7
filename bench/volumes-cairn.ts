// One Cairn step of the volume-data benchmark (bench/volumes.ts), in a process of its own so that its peak
// RSS is measured the way restic's and kopia's are:
//   node bench/volumes-cairn.ts backup  --bucket B --namespace N --password P --source DIR
//   node bench/volumes-cairn.ts restore --bucket B --namespace N --password P --target DIR
// The repository is the one a pod volume's backup writes: restic/<namespace>/ of an S3 location (the
// testbed's MinIO: CAIRN_S3_ENDPOINT, AWS_*), through openObjectStore and StoreBackend, with the product's
// defaults (zstd, 16 MiB packs, 4 files read at once). A backup makes the repository when it is missing and
// takes the latest snapshot of the same path as its parent, as src/volumes/fs-backup.ts does; a restore
// restores the latest snapshot. Prints one line of JSON: the step's own seconds and the result's stats.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  Repository,
  backupDirectory,
  findSnapshots,
  polynomialToHex,
  randomPolynomial,
  restoreSnapshot,
} from '../src/repo/index.ts';
import { openObjectStore } from '../src/storage/index.ts';
import { StoreBackend } from '../src/volumes/repo-backend.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    bucket: { type: 'string' },
    namespace: { type: 'string' },
    password: { type: 'string' },
    source: { type: 'string' },
    target: { type: 'string' },
  },
});
const [step] = positionals;
const { bucket, namespace, password } = values;
if ((step !== 'backup' && step !== 'restore') || !bucket || !namespace || !password) {
  console.error(
    'usage: volumes-cairn.ts backup|restore --bucket B --namespace N --password P --source|--target DIR',
  );
  process.exit(2);
}
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the testbed's environment)`);
  return value;
};

const started = performance.now();
const store = await openObjectStore(
  {
    provider: 's3',
    objectStorage: { bucket },
    config: { s3Url: env('CAIRN_S3_ENDPOINT'), region: env('AWS_REGION'), s3ForcePathStyle: 'true' },
  },
  {
    credentials: {
      kind: 's3',
      accessKeyId: env('AWS_ACCESS_KEY_ID'),
      secretAccessKey: env('AWS_SECRET_ACCESS_KEY'),
    },
  },
);
const backend = new StoreBackend(store, namespace);
const exists = (await backend.stat({ type: 'config', name: '' })) !== undefined;
const repo = exists
  ? await Repository.open(backend, { password })
  : await Repository.init(backend, {
      password,
      polynomial: polynomialToHex(randomPolynomial((n) => randomBytes(n))),
    });

if (step === 'backup') {
  if (!values.source) throw new Error('backup needs --source');
  const [parent] = exists ? await findSnapshots(repo, { paths: [values.source] }) : [];
  const result = await backupDirectory(repo, {
    source: values.source,
    ...(parent ? { parent: parent.id } : {}),
    // As the node agent runs it: with progress, which counts the source beside the backup.
    onProgress: () => {},
  });
  await repo.close();
  if (result.errors.length) throw new Error(`backup errors: ${JSON.stringify(result.errors.slice(0, 3))}`);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    JSON.stringify({ seconds, snapshotId: result.snapshotId, parent: parent?.id, ...result.stats }) + '\n',
  );
} else {
  if (!values.target) throw new Error('restore needs --target');
  const [latest] = await findSnapshots(repo);
  if (!latest) throw new Error('the repository has no snapshot');
  const result = await restoreSnapshot(repo, { snapshotId: latest.id, target: values.target });
  await repo.close();
  if (result.problems.length)
    throw new Error(`restore problems: ${JSON.stringify(result.problems.slice(0, 3))}`);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, snapshotId: latest.id, ...result.stats }) + '\n');
}
