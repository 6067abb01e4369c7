// The Helm chart (deploy/helm/cairn) makes the objects `cairn install` makes: `helm lint` passes, and
// `helm template --include-crds` renders, object by object, what installManifests gives and what
// `cairn install --dry-run` prints, less the Namespace (`helm install --create-namespace` makes it).
// The chart's crds/ directory, which Helm does not template, is a copy of deploy/crds/.
//
// Needs the testbed's helm on PATH: `node test/run.js` puts it there (`testbed up` builds it).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { BackupLocationSpec } from '../../src/api/index.ts';
import { CREDENTIALS_KEY, CREDENTIALS_SECRET, installManifests } from '../../src/controller/index.ts';
import type { KubeObject } from '../../src/kube/index.ts';
import { cairn, repoRoot } from '../helpers/cli.ts';
import { uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);
const chart = join(repoRoot, 'deploy', 'helm', 'cairn');
const chartCrds = join(chart, 'crds');
const generatedCrds = join(repoRoot, 'deploy', 'crds');
const packageVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
).version;
/** `cairn install`'s default image (DEFAULT_IMAGE in src/cli/commands/install.ts). */
const defaultImage = `ghcr.io/cairn-dev/cairn:v${packageVersion}`;

const CREDENTIALS = '[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = s3cr3t/+value=\n';

class HelmNotFoundError extends Error {
  constructor(cause: unknown) {
    super(
      'helm is not on PATH: run `bash testbed/scripts/build.sh all` (it builds helm into the testbed cache), ' +
        'then the test with `node test/run.js test/integration/helm-chart.test.ts`, which puts the ' +
        "testbed's helm on PATH",
      { cause },
    );
  }
}

/** Runs the helm on PATH; its absence fails the test with the way to get it. */
async function helm(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('helm', args, { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new HelmNotFoundError(error);
    throw error;
  }
}

/** `helm template` with these values fails, and says what matches `pattern` on standard error. */
async function assertRefused(values: string[], pattern: RegExp): Promise<void> {
  const stderr = await helm(['template', 'cairn', chart, ...values]).then(
    () => assert.fail(`helm template accepted ${values.join(' ')}`),
    (error: unknown) => {
      if (error instanceof HelmNotFoundError) throw error;
      return String((error as { stderr?: unknown }).stderr);
    },
  );
  assert.match(stderr, pattern);
}

/** The objects of a multi-document YAML stream, empty documents left out. */
function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((doc) => {
    assert.deepEqual(doc.errors, [], 'helm printed YAML that does not parse');
    const value = doc.toJS() as KubeObject | null;
    return value ? [value] : [];
  });
}

const keyOf = (o: KubeObject) => `${o.kind}/${o.metadata.name}`;
const byKey = (objects: KubeObject[]) => [...objects].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));

/** Same objects, object by object, sorted by kind and name; the Namespace is Helm's to make. */
function assertSameObjects(rendered: KubeObject[], expected: KubeObject[]): void {
  const chartObjects = byKey(rendered);
  const installObjects = byKey(expected.filter((o) => o.kind !== 'Namespace'));
  assert.deepEqual(chartObjects.map(keyOf), installObjects.map(keyOf), 'the chart renders other objects');
  for (const [i, object] of chartObjects.entries())
    assert.deepEqual(object, installObjects[i], `${keyOf(object)} differs from cairn install's`);
}

let dir: string;
let secretFile: string;

/** What `--set` and `--set-file` give the chart for an s3 location on MinIO, with credentials. */
function s3Values(file: string): string[] {
  return [
    '--set',
    'location.provider=s3',
    '--set',
    'location.bucket=backups',
    '--set',
    'location.prefix=cluster-1',
    '--set',
    'location.config.region=eu-west-1',
    '--set',
    'location.config.s3Url=http://minio.storage:9000',
    '--set',
    'location.config.s3ForcePathStyle=true',
    '--set-file',
    `credentials.secretContents=${file}`,
  ];
}

/** The same location, as `cairn install` builds it from its flags (src/cli/commands/install.ts). */
const s3Spec: BackupLocationSpec = {
  provider: 's3',
  objectStorage: { bucket: 'backups', prefix: 'cluster-1' },
  config: { region: 'eu-west-1', s3Url: 'http://minio.storage:9000', s3ForcePathStyle: 'true' },
  credential: { name: CREDENTIALS_SECRET, key: CREDENTIALS_KEY },
  default: true,
  accessMode: 'ReadWrite',
};

describe('the Helm chart', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-helm-'));
    secretFile = join(dir, 'credentials');
    await writeFile(secretFile, CREDENTIALS);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes helm lint without errors', async () => {
    const output = await helm(['lint', chart, '--strict']);
    assert.match(output, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(output, /\[(ERROR|WARNING)\]/);
  });

  it('ships deploy/crds/ unchanged in its crds/ directory', () => {
    const files = readdirSync(generatedCrds).filter((f) => f.endsWith('.yaml'));
    assert.deepEqual(
      readdirSync(chartCrds).sort(),
      files.sort(),
      'copy them: cp deploy/crds/*.yaml deploy/helm/cairn/crds/ (after removing the old ones)',
    );
    for (const file of files)
      assert.equal(
        readFileSync(join(chartCrds, file), 'utf8'),
        readFileSync(join(generatedCrds, file), 'utf8'),
        `deploy/helm/cairn/crds/${file} differs from deploy/crds/${file}: cp deploy/crds/*.yaml deploy/helm/cairn/crds/`,
      );
  });

  it('renders what installManifests makes for an s3 location with credentials', async () => {
    const namespace = `cairn-${uniqueSuffix()}`;
    const rendered = parseObjects(
      await helm([
        'template',
        'cairn',
        chart,
        '--namespace',
        namespace,
        '--include-crds',
        ...s3Values(secretFile),
      ]),
    );
    assertSameObjects(
      rendered,
      installManifests({
        namespace,
        image: defaultImage,
        location: { name: 'default', spec: s3Spec },
        credentials: CREDENTIALS,
      }),
    );
    const secret = rendered.find((o) => o.kind === 'Secret') as { data: Record<string, string> } | undefined;
    assert.equal(Buffer.from(secret?.data[CREDENTIALS_KEY] ?? '', 'base64').toString(), CREDENTIALS);
  });

  it('renders what installManifests makes without a location: no Secret, no BackupLocation', async () => {
    const namespace = `cairn-${uniqueSuffix()}`;
    const rendered = parseObjects(
      await helm(['template', 'cairn', chart, '--namespace', namespace, '--include-crds']),
    );
    assertSameObjects(rendered, installManifests({ namespace, image: defaultImage }));
    assert.ok(!rendered.some((o) => o.kind === 'Secret' || o.kind === 'BackupLocation'));
  });

  it('renders what installManifests makes for a plaintext fs location, with replicas and an image tag', async () => {
    const namespace = `cairn-${uniqueSuffix()}`;
    const rendered = parseObjects(
      await helm([
        'template',
        'cairn',
        chart,
        '--namespace',
        namespace,
        '--include-crds',
        '--set',
        'location.provider=filesystem',
        '--set',
        'location.config.path=/var/lib/cairn',
        '--set',
        'location.plaintext=true',
        '--set',
        'replicas=3',
        '--set',
        'image.tag=v9.9.9',
      ]),
    );
    assertSameObjects(
      rendered,
      installManifests({
        namespace,
        image: 'ghcr.io/cairn-dev/cairn:v9.9.9',
        replicas: 3,
        location: {
          name: 'default',
          spec: {
            provider: 'fs',
            config: { path: '/var/lib/cairn' },
            default: true,
            accessMode: 'ReadWrite',
            plaintext: true,
          },
        },
      }),
    );
  });

  it('renders what `cairn install --dry-run` prints for the same settings (its credentials redacted)', async () => {
    const namespace = `cairn-${uniqueSuffix()}`;
    const printed = await cairn([
      'install',
      '--dry-run',
      '-o',
      'json',
      '--namespace',
      namespace,
      '--location-provider',
      's3',
      '--bucket',
      'backups',
      '--prefix',
      'cluster-1',
      '--location-config',
      'region=eu-west-1,s3Url=http://minio.storage:9000,s3ForcePathStyle=true',
      '--secret-file',
      secretFile,
    ]);
    assert.equal(printed.code, 0, printed.stderr);
    const installed = (JSON.parse(printed.stdout) as { items: KubeObject[] }).items;
    const rendered = parseObjects(
      await helm([
        'template',
        'cairn',
        chart,
        '--namespace',
        namespace,
        '--include-crds',
        ...s3Values(secretFile),
      ]),
    );
    // The dry-run prints a placeholder for each credentials key; the bytes are compared above.
    const redacted = installed.find((o) => o.kind === 'Secret') as
      { data: Record<string, string> } | undefined;
    assert.ok(redacted, 'cairn install --dry-run printed no Secret');
    const comparable = rendered.map((o) =>
      o.kind === 'Secret'
        ? { ...o, data: Object.fromEntries(Object.keys(o.data as object).map((k) => [k, redacted.data[k]])) }
        : o,
    );
    assertSameObjects(comparable, installed);
  });

  it('refuses the location values `cairn install` refuses, naming the value', async () => {
    await assertRefused(
      ['--set', 'location.provider=s3', '--set', 'location.bucket=backups'],
      /location\.config\.region: an s3 location needs a region \(or an s3Url\)/,
    );
    await assertRefused(['--set', 'location.provider=nfs'], /location\.provider "nfs": must be one of/);
    await assertRefused(
      ['--set-file', `credentials.secretContents=${secretFile}`],
      /location\.bucket and credentials need location\.provider/,
    );
  });
});
