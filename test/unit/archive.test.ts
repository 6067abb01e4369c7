import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import {
  ArchiveCorruptError,
  ArchiveItemTooLargeError,
  ArchiveWriter,
  ArchiveWriterClosedError,
  DuplicateArchiveItemError,
  InvalidArchiveItemError,
  UnsupportedArchiveVersionError,
  indexArchive,
  openArchive,
  readArchive,
} from '../../src/archive/index.ts';
import type { ArchiveItem, ArchiveItemInput } from '../../src/archive/index.ts';
import { buffer } from 'node:stream/consumers';
import { flip, rejection } from '../helpers/bytes.ts';

const clock = () => new Date('2024-05-01T12:00:00Z');
const goldenPath = join(import.meta.dirname, '..', 'fixtures', 'archive', 'cairn-1.1.0.tar.gz');

/** A small backup: core, grouped, cluster-scoped, CRD-scoped and non-preferred versions. */
const smallBackup: ArchiveItemInput[] = [
  item('namespaces', undefined, 'shop', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }),
  item('deployments.apps', 'shop', 'web', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: { replicas: 2 },
  }),
  item('pods', 'shop', 'web-7c9f-abcde', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-7c9f-abcde' },
  }),
  item('customresourcedefinitions.apiextensions.k8s.io', undefined, 'widgets.example.com', {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
  }),
  item(
    'horizontalpodautoscalers.autoscaling',
    'shop',
    'web',
    { apiVersion: 'autoscaling/v2', kind: 'HPA' },
    'v2',
  ),
  {
    ...item('horizontalpodautoscalers.autoscaling', 'shop', 'web', {
      apiVersion: 'autoscaling/v1',
      kind: 'HPA',
    }),
    preferredVersion: 'v2',
  },
];

/** Where the writer must put smallBackup's items, in order, and which object each path holds. */
const smallBackupPaths: [string, unknown][] = [
  ['resources/namespaces/cluster/shop.json', smallBackup[0]?.object],
  ['resources/namespaces/v1-preferredversion/cluster/shop.json', smallBackup[0]?.object],
  ['resources/deployments.apps/namespaces/shop/web.json', smallBackup[1]?.object],
  ['resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json', smallBackup[1]?.object],
  ['resources/pods/namespaces/shop/web-7c9f-abcde.json', smallBackup[2]?.object],
  ['resources/pods/v1-preferredversion/namespaces/shop/web-7c9f-abcde.json', smallBackup[2]?.object],
  [
    'resources/customresourcedefinitions.apiextensions.k8s.io/cluster/widgets.example.com.json',
    smallBackup[3]?.object,
  ],
  [
    'resources/customresourcedefinitions.apiextensions.k8s.io/v1-preferredversion/cluster/widgets.example.com.json',
    smallBackup[3]?.object,
  ],
  ['resources/horizontalpodautoscalers.autoscaling/namespaces/shop/web.json', smallBackup[4]?.object],
  [
    'resources/horizontalpodautoscalers.autoscaling/v2-preferredversion/namespaces/shop/web.json',
    smallBackup[4]?.object,
  ],
  ['resources/horizontalpodautoscalers.autoscaling/v1/namespaces/shop/web.json', smallBackup[5]?.object],
];

function item(
  groupResource: string,
  namespace: string | undefined,
  name: string,
  object: unknown,
  version = 'v1',
): ArchiveItemInput {
  const base = { groupResource, name, version, preferredVersion: version, object };
  return namespace === undefined ? base : { ...base, namespace };
}

async function writeArchive(items: ArchiveItemInput[]): Promise<Buffer> {
  const writer = new ArchiveWriter({ now: clock });
  const bytes = buffer(writer.stream);
  for (const input of items) await writer.addItem(input);
  await writer.finish();
  return bytes;
}

async function readAll(archive: Buffer): Promise<ArchiveItem[]> {
  const items: ArchiveItem[] = [];
  for await (const entry of readArchive(Readable.from([archive]))) items.push(entry);
  return items;
}

interface TarEntry {
  name: string;
  mode: number | undefined;
  type: string | null | undefined;
  mtime: Date | undefined;
  content: string;
}

async function tarEntries(archive: Buffer): Promise<TarEntry[]> {
  const extract = tar.extract();
  Readable.from([gunzipSync(archive)]).pipe(extract);
  const entries: TarEntry[] = [];
  for await (const entry of extract) {
    const { name, mode, type, mtime } = entry.header;
    entries.push({
      name,
      mode,
      type,
      mtime,
      content: (await buffer(entry as AsyncIterable<Buffer>)).toString(),
    });
  }
  return entries;
}

/** A tar entry exactly as Go's archive/tar writes Velero's headers: USTAR, mode 0755, uid/gid 0. */
function goTarEntry(
  name: string,
  content: string | Buffer,
  options: { mtime?: Date; type?: string } = {},
): Buffer {
  const data = Buffer.from(content);
  const header = Buffer.alloc(512);
  const octal = (offset: number, width: number, value: number) =>
    header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii');
  header.write(name, 0, 'utf8');
  octal(100, 8, 0o755);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, data.length);
  octal(136, 12, Math.floor((options.mtime ?? clock()).getTime() / 1000));
  header.write(options.type ?? '0', 156, 'ascii');
  header.write('ustar\x0000', 257, 'ascii');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding]);
}

/** A gzip'd tar of the given entries, closed with the two zero blocks Go's tar.Writer.Close writes. */
function goArchive(entries: Buffer[], options: { endMarker?: boolean } = {}): Buffer {
  return gzipSync(Buffer.concat([...entries, Buffer.alloc(options.endMarker === false ? 0 : 1024)]));
}

/** A copy of `data` with `bits` flipped in byte `offset`. */

describe('ArchiveWriter', () => {
  it('writes metadata/version first, containing "1.1.0\\n"', async () => {
    const entries = await tarEntries(await writeArchive(smallBackup));
    assert.equal(entries[0]?.name, 'metadata/version');
    assert.equal(entries[0]?.content, '1.1.0\n');
  });

  it('writes exactly the Velero paths for a small backup, legacy path first', async () => {
    const entries = await tarEntries(await writeArchive(smallBackup));
    assert.deepEqual(
      entries.map((e) => e.name),
      ['metadata/version', ...smallBackupPaths.map(([path]) => path)],
    );
  });

  it('writes every entry as a regular file with mode 0755 and the time of the injected clock', async () => {
    for (const entry of await tarEntries(await writeArchive(smallBackup))) {
      assert.equal(entry.type, 'file', entry.name);
      assert.equal(entry.mode, 0o755, entry.name);
      assert.deepEqual(entry.mtime, clock(), entry.name);
    }
  });

  it('writes compact JSON, the same bytes at the legacy and the preferred-version path', async () => {
    const entries = await tarEntries(await writeArchive(smallBackup));
    const deployment = entries.filter((e) => e.name.startsWith('resources/deployments.apps/'));
    assert.equal(deployment.length, 2);
    for (const entry of deployment) assert.equal(entry.content, JSON.stringify(smallBackup[1]?.object));
  });

  it('refuses empty names, names with "/", "." and "..", naming the field and the value', async () => {
    const writer = new ArchiveWriter({ now: clock });
    writer.stream.resume();
    const pod = item('pods', 'shop', 'web', {});
    for (const [field, value] of [
      ['name', ''],
      ['name', 'a/b'],
      ['name', '.'],
      ['name', '..'],
      ['namespace', ''],
      ['namespace', 'x/..'],
      ['namespace', '..'],
      ['groupResource', ''],
      ['groupResource', 'apps/deployments'],
    ] as const) {
      const error = await rejection(writer.addItem({ ...pod, [field]: value }));
      assert.ok(error instanceof InvalidArchiveItemError, `${field}=${value}`);
      assert.equal(error.field, field);
      assert.equal(error.value, value);
      assert.ok(error.message.includes(`${field} ${JSON.stringify(value)}`), error.message);
    }
  });

  it('refuses a version that could be mistaken for a directory of the layout', async () => {
    const writer = new ArchiveWriter({ now: clock });
    writer.stream.resume();
    for (const version of ['namespaces', 'cluster', 'v1-preferredversion', 'V1', '', 'v1/x']) {
      const error = await rejection(writer.addItem({ ...item('pods', 'shop', 'web', {}), version }));
      assert.ok(error instanceof InvalidArchiveItemError, version);
      assert.equal(error.field, 'version');
    }
  });

  it('refuses an item path it has already written, naming the path', async () => {
    const writer = new ArchiveWriter({ now: clock });
    writer.stream.resume();
    await writer.addItem(item('pods', 'shop', 'web', {}));
    const error = await rejection(writer.addItem(item('pods', 'shop', 'web', { again: true })));
    assert.ok(error instanceof DuplicateArchiveItemError);
    assert.equal(error.path, 'resources/pods/namespaces/shop/web.json');
    // Another version of the same item is not a duplicate.
    await writer.addItem({ ...item('pods', 'shop', 'web', {}, 'v2'), preferredVersion: 'v1' });
    await writer.finish();
  });

  it('refuses objects that are not JSON and items over maxItemBytes', async () => {
    const writer = new ArchiveWriter({ now: clock, maxItemBytes: 100 });
    writer.stream.resume();
    assert.ok(
      (await rejection(writer.addItem(item('pods', 'shop', 'a', undefined)))) instanceof
        InvalidArchiveItemError,
    );
    const error = await rejection(writer.addItem(item('pods', 'shop', 'b', { data: 'x'.repeat(200) })));
    assert.ok(error instanceof ArchiveItemTooLargeError);
    assert.equal(error.limit, 100);
  });

  it('refuses items after finish()', async () => {
    const writer = new ArchiveWriter({ now: clock });
    writer.stream.resume();
    await writer.finish();
    assert.ok(
      (await rejection(writer.addItem(item('pods', 'shop', 'a', {})))) instanceof ArchiveWriterClosedError,
    );
  });

  it('rejects pending and later items with the abort reason once aborted', async () => {
    const controller = new AbortController();
    const writer = new ArchiveWriter({ now: clock, signal: controller.signal });
    // Nobody reads the stream, so the writer soon waits on backpressure.
    const big = { data: 'x'.repeat(1 << 20) };
    const pending = (async () => {
      for (let i = 0; ; i += 1) await writer.addItem(item('configmaps', 'shop', `c${i}`, big));
    })();
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('stop now'));
    assert.equal(((await rejection(pending)) as Error).message, 'stop now');
    assert.equal(((await rejection(writer.finish())) as Error).message, 'stop now');
  });

  it('counts items, tar entries and bytes', async () => {
    const writer = new ArchiveWriter({ now: clock });
    const bytes = buffer(writer.stream);
    for (const input of smallBackup) await writer.addItem(input);
    await writer.finish();
    const archive = await bytes;
    const jsonBytes = smallBackup.reduce((sum, i) => sum + JSON.stringify(i.object).length, 0);
    const copies = smallBackup.filter((i) => i.version === i.preferredVersion);
    const copyBytes = copies.reduce((sum, i) => sum + JSON.stringify(i.object).length, 0);
    assert.deepEqual(writer.stats, {
      items: 6,
      entries: 12,
      contentBytes: '1.1.0\n'.length + jsonBytes + copyBytes,
      archiveBytes: archive.length,
    });
  });
});

describe('readArchive', () => {
  it('round-trips namespaced, cluster-scoped, core, grouped and non-preferred items', async () => {
    const items = await readAll(await writeArchive(smallBackup));
    const summary = items.map(({ groupResource, namespace, name, version, preferred }) => ({
      groupResource,
      namespace,
      name,
      version,
      preferred,
    }));
    assert.deepEqual(summary, [
      {
        groupResource: 'namespaces',
        namespace: undefined,
        name: 'shop',
        version: undefined,
        preferred: true,
      },
      { groupResource: 'namespaces', namespace: undefined, name: 'shop', version: 'v1', preferred: true },
      {
        groupResource: 'deployments.apps',
        namespace: 'shop',
        name: 'web',
        version: undefined,
        preferred: true,
      },
      { groupResource: 'deployments.apps', namespace: 'shop', name: 'web', version: 'v1', preferred: true },
      {
        groupResource: 'pods',
        namespace: 'shop',
        name: 'web-7c9f-abcde',
        version: undefined,
        preferred: true,
      },
      { groupResource: 'pods', namespace: 'shop', name: 'web-7c9f-abcde', version: 'v1', preferred: true },
      ...['customresourcedefinitions.apiextensions.k8s.io'].flatMap((groupResource) => [
        {
          groupResource,
          namespace: undefined,
          name: 'widgets.example.com',
          version: undefined,
          preferred: true,
        },
        { groupResource, namespace: undefined, name: 'widgets.example.com', version: 'v1', preferred: true },
      ]),
      ...['horizontalpodautoscalers.autoscaling'].flatMap((groupResource) => [
        { groupResource, namespace: 'shop', name: 'web', version: undefined, preferred: true },
        { groupResource, namespace: 'shop', name: 'web', version: 'v2', preferred: true },
        { groupResource, namespace: 'shop', name: 'web', version: 'v1', preferred: false },
      ]),
    ]);
    assert.deepEqual(
      items.map((i) => [i.path, i.object]),
      smallBackupPaths,
    );
  });

  it('round-trips names longer than a plain tar header holds, and non-ASCII names', async () => {
    const long = `a${'b'.repeat(250)}`;
    const items = await readAll(
      await writeArchive([
        item('configmaps', 'n'.repeat(63), long, { long: true }),
        item('clusterroles.rbac.authorization.k8s.io', undefined, 'system:café', { accent: true }),
      ]),
    );
    assert.deepEqual(
      items.map((i) => [i.namespace, i.name]),
      [
        ['n'.repeat(63), long],
        ['n'.repeat(63), long],
        [undefined, 'system:café'],
        [undefined, 'system:café'],
      ],
    );
  });

  it('gives the format version through openArchive before the first item', async () => {
    const archive = await openArchive(Readable.from([await writeArchive(smallBackup)]));
    assert.equal(archive.formatVersion, '1.1.0');
    let count = 0;
    for await (const _ of archive.items()) count += 1;
    assert.equal(count, 11);
  });

  it('reads a Velero archive laid out by hand from the Velero spec', async () => {
    // Go's json.Marshal of an unstructured object sorts keys; Velero writes the legacy path first.
    const ns = '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}';
    const deploy =
      '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"}}';
    const hpa2 = '{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"}}';
    const hpa1 = '{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"web"}}';
    const archive = goArchive([
      goTarEntry('metadata/version', '1.1.0\n'),
      goTarEntry('resources/namespaces/cluster/shop.json', ns),
      goTarEntry('resources/namespaces/v1-preferredversion/cluster/shop.json', ns),
      goTarEntry('resources/deployments.apps/namespaces/shop/web.json', deploy),
      goTarEntry('resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json', deploy),
      goTarEntry('resources/horizontalpodautoscalers.autoscaling/namespaces/shop/web.json', hpa2),
      goTarEntry(
        'resources/horizontalpodautoscalers.autoscaling/v2-preferredversion/namespaces/shop/web.json',
        hpa2,
      ),
      goTarEntry('resources/horizontalpodautoscalers.autoscaling/v1/namespaces/shop/web.json', hpa1),
    ]);
    const items = await readAll(archive);
    assert.deepEqual(
      items.map((i) => [i.path, i.groupResource, i.namespace ?? '', i.name, i.version ?? '', i.preferred]),
      [
        ['resources/namespaces/cluster/shop.json', 'namespaces', '', 'shop', '', true],
        ['resources/namespaces/v1-preferredversion/cluster/shop.json', 'namespaces', '', 'shop', 'v1', true],
        ['resources/deployments.apps/namespaces/shop/web.json', 'deployments.apps', 'shop', 'web', '', true],
        [
          'resources/deployments.apps/v1-preferredversion/namespaces/shop/web.json',
          'deployments.apps',
          'shop',
          'web',
          'v1',
          true,
        ],
        [
          'resources/horizontalpodautoscalers.autoscaling/namespaces/shop/web.json',
          'horizontalpodautoscalers.autoscaling',
          'shop',
          'web',
          '',
          true,
        ],
        [
          'resources/horizontalpodautoscalers.autoscaling/v2-preferredversion/namespaces/shop/web.json',
          'horizontalpodautoscalers.autoscaling',
          'shop',
          'web',
          'v2',
          true,
        ],
        [
          'resources/horizontalpodautoscalers.autoscaling/v1/namespaces/shop/web.json',
          'horizontalpodautoscalers.autoscaling',
          'shop',
          'web',
          'v1',
          false,
        ],
      ],
    );
    assert.deepEqual(
      items.map((i) => JSON.stringify(i.object)),
      [ns, ns, deploy, deploy, hpa2, hpa2, hpa1],
    );
    const index = await indexArchive(Readable.from([archive]));
    assert.deepEqual(index.preferredVersions.get('horizontalpodautoscalers.autoscaling'), 'v2');
    assert.deepEqual([...(index.versions.get('horizontalpodautoscalers.autoscaling') ?? [])].sort(), [
      'v1',
      'v2',
    ]);
  });

  it('reads Velero format 1 archives from before 1.1.0 (version "1", no version directories)', async () => {
    const archive = goArchive([
      goTarEntry('metadata/version', '1\n'),
      goTarEntry('resources/pods/namespaces/shop/web.json', '{"kind":"Pod"}'),
    ]);
    const reader = await openArchive(Readable.from([archive]));
    assert.equal(reader.formatVersion, '1');
    const items: ArchiveItem[] = [];
    for await (const entry of reader.items()) items.push(entry);
    assert.deepEqual(
      items.map((i) => [i.groupResource, i.namespace, i.name, i.version, i.preferred]),
      [['pods', 'shop', 'web', undefined, true]],
    );
  });

  it('refuses a format with another major version, naming it', async () => {
    const archive = goArchive([goTarEntry('metadata/version', '2.0.0\n')]);
    const error = await rejection(openArchive(Readable.from([archive])));
    assert.ok(error instanceof UnsupportedArchiveVersionError);
    assert.equal(error.version, '2.0.0');
    assert.match(error.message, /"2\.0\.0"/);
  });

  it('reports a gzip archive cut in half as ArchiveCorruptError, with its cause', async () => {
    const archive = await writeArchive(smallBackup);
    const error = await rejection(readAll(archive.subarray(0, Math.floor(archive.length / 2))));
    assert.ok(error instanceof ArchiveCorruptError, String(error));
    assert.ok(error.cause instanceof Error);
    assert.match(error.message, /^corrupt archive: gzip stream: unexpected end of file$/);
  });

  it('reports a flipped byte in the middle as ArchiveCorruptError', async () => {
    const archive = await writeArchive(smallBackup);
    const flipped = flip(archive, Math.floor(archive.length / 2));
    const error = await rejection(readAll(flipped));
    assert.ok(error instanceof ArchiveCorruptError, String(error));
    assert.ok(error.cause instanceof Error);
  });

  it('never yields changed content, whichever single bit of the archive is flipped', async () => {
    // Some bits change nothing (the gzip header's mtime and OS, unused deflate bits); every other flip
    // must be an error of the archive, never a different item.
    const archive = await writeArchive(smallBackup);
    const original = JSON.stringify(await readAll(archive));
    for (let i = 0; i < archive.length; i += 1) {
      for (const bit of [0x01, 0x80]) {
        const flipped = flip(archive, i, bit);
        const outcome = await readAll(flipped).then(
          (items) => JSON.stringify(items),
          (error: unknown) => error,
        );
        if (typeof outcome === 'string') assert.equal(outcome, original, `byte ${i} bit ${bit}`);
        else
          assert.ok(
            outcome instanceof Error && /Archive/.test(outcome.name),
            `byte ${i}: ${String(outcome)}`,
          );
      }
    }
  });

  it('reports a tar without its end-of-archive marker as truncated, even inside a valid gzip', async () => {
    const archive = goArchive(
      [goTarEntry('metadata/version', '1.1.0\n'), goTarEntry('resources/pods/namespaces/a/b.json', '{}')],
      { endMarker: false },
    );
    const error = await rejection(readAll(archive));
    assert.ok(error instanceof ArchiveCorruptError);
    assert.equal(error.path, 'resources/pods/namespaces/a/b.json');
    assert.match(error.message, /^corrupt archive after entry .*end-of-archive marker/);
  });

  it('reads an archive re-packed with tar: a "./" prefix, directory entries, padding to a 10 KiB record', async () => {
    const tarBytes = Buffer.concat([
      goTarEntry('./', '', { type: '5' }),
      goTarEntry('./metadata/', '', { type: '5' }),
      goTarEntry('./metadata/version', '1.1.0\n'),
      goTarEntry('./resources/pods/namespaces/shop/', '', { type: '5' }),
      goTarEntry('./resources/pods/namespaces/shop/web.json', '{"kind":"Pod"}'),
    ]);
    const archive = gzipSync(Buffer.concat([tarBytes, Buffer.alloc(10240 - tarBytes.length)]));
    assert.deepEqual(
      (await readAll(archive)).map((i) => i.path),
      ['resources/pods/namespaces/shop/web.json'],
    );
  });

  it('reports an item that is not a JSON object, naming its path', async () => {
    for (const content of ['{"kind":', '[1,2]', '']) {
      const archive = goArchive([
        goTarEntry('metadata/version', '1.1.0\n'),
        goTarEntry('resources/pods/namespaces/shop/web.json', content),
      ]);
      const error = await rejection(readAll(archive));
      assert.ok(error instanceof ArchiveCorruptError, content);
      assert.equal(error.path, 'resources/pods/namespaces/shop/web.json');
    }
  });

  it('refuses unsafe and unexpected paths, duplicates and non-file entries', async () => {
    const cases: [string, string, string?][] = [
      ['resources/pods/namespaces/../../../etc/passwd.json', 'unsafe path'],
      ['/resources/pods/namespaces/shop/web.json', 'unsafe path'],
      ['resources/pods/namespaces//web.json', 'unsafe path'],
      ['etc/passwd', 'outside resources/ and metadata/'],
      ['resources/pods/namespaces/shop/web.yaml', '<name>.json'],
      ['resources/pods/somewhere/else/deep/web.json', 'not a resources/'],
      ['resources/pods/namespaces/shop/web.json', 'not a regular file', '2'],
    ];
    for (const [path, reason, type] of cases) {
      const archive = goArchive([
        goTarEntry('metadata/version', '1.1.0\n'),
        goTarEntry(path, '{}', type === undefined ? {} : { type }),
      ]);
      const error = await rejection(readAll(archive));
      assert.ok(error instanceof ArchiveCorruptError, path);
      assert.equal(error.path, path);
      assert.ok(error.message.includes(reason), `${path}: ${error.message}`);
    }
    const duplicate = goArchive([
      goTarEntry('metadata/version', '1.1.0\n'),
      goTarEntry('resources/pods/namespaces/shop/web.json', '{}'),
      goTarEntry('resources/pods/namespaces/shop/web.json', '{"second":true}'),
    ]);
    assert.match(String(await rejection(readAll(duplicate))), /duplicate entry/);
  });

  it('refuses an archive without metadata/version, or with an item before it', async () => {
    const missing = goArchive([goTarEntry('resources/pods/namespaces/shop/web.json', '{}')]);
    const late = goArchive([
      goTarEntry('resources/pods/namespaces/shop/web.json', '{}'),
      goTarEntry('metadata/version', '1.1.0\n'),
    ]);
    assert.match(
      String(await rejection(readAll(missing))),
      /metadata\/version must come before the first item/,
    );
    assert.match(String(await rejection(readAll(late))), /metadata\/version must come before the first item/);
    const empty = goArchive([]);
    assert.match(String(await rejection(readAll(empty))), /no metadata\/version entry/);
  });

  it('refuses an entry over maxItemBytes before reading it', async () => {
    const archive = await writeArchive([item('configmaps', 'shop', 'big', { data: 'x'.repeat(5000) })]);
    const error = await rejection(
      (async () => {
        for await (const _ of readArchive(Readable.from([archive]), { maxItemBytes: 1000 }));
      })(),
    );
    assert.ok(error instanceof ArchiveItemTooLargeError);
    assert.equal(error.path, 'resources/configmaps/namespaces/shop/big.json');
  });

  it('passes a failing source through as its own error, not as corruption', async () => {
    const archive = await writeArchive(smallBackup);
    const source = new Readable({ read() {} });
    source.push(archive.subarray(0, 100));
    setImmediate(() => source.destroy(new Error('connection reset by the object store')));
    const error = await rejection(
      (async () => {
        for await (const _ of readArchive(source));
      })(),
    );
    assert.ok(!(error instanceof ArchiveCorruptError));
    assert.equal((error as Error).message, 'connection reset by the object store');
  });

  it('stops with the abort reason when its signal aborts', async () => {
    const controller = new AbortController();
    const archive = await writeArchive(smallBackup);
    const error = await rejection(
      (async () => {
        for await (const _ of readArchive(Readable.from([archive]), { signal: controller.signal })) {
          controller.abort(new Error('restore cancelled'));
        }
      })(),
    );
    assert.equal((error as Error).message, 'restore cancelled');
  });
});

describe('indexArchive', () => {
  it('lists item names by group-resource and namespace, and the versions present', async () => {
    const index = await indexArchive(Readable.from([await writeArchive(smallBackup)]));
    assert.equal(index.formatVersion, '1.1.0');
    assert.equal(index.itemCount, 5);
    assert.deepEqual(
      [...index.items].map(([gr, byNamespace]) => [gr, Object.fromEntries(byNamespace)]),
      [
        ['namespaces', { '': ['shop'] }],
        ['deployments.apps', { shop: ['web'] }],
        ['pods', { shop: ['web-7c9f-abcde'] }],
        ['customresourcedefinitions.apiextensions.k8s.io', { '': ['widgets.example.com'] }],
        ['horizontalpodautoscalers.autoscaling', { shop: ['web'] }],
      ],
    );
    assert.deepEqual([...(index.versions.get('horizontalpodautoscalers.autoscaling') ?? [])], ['v2', 'v1']);
    assert.equal(index.preferredVersions.get('horizontalpodautoscalers.autoscaling'), 'v2');
    assert.equal(index.preferredVersions.get('pods'), 'v1');
  });

  it('fails on a damaged archive instead of returning a partial index', async () => {
    const archive = await writeArchive(smallBackup);
    const error = await rejection(indexArchive(Readable.from([archive.subarray(0, archive.length - 10)])));
    assert.ok(error instanceof ArchiveCorruptError);
  });
});

describe('streaming', () => {
  it('writes and reads a 20,000-item archive with memory far below its size', async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const before = heap();
    let peak = 0;
    const writer = new ArchiveWriter({ now: clock });
    const padding = 'x'.repeat(4000);
    const writing = (async () => {
      for (let i = 0; i < 20_000; i += 1) {
        await writer.addItem(item('configmaps', `ns-${i % 50}`, `config-${i}`, { data: { padding, i } }));
      }
      await writer.finish();
    })();
    let read = 0;
    for await (const entry of readArchive(writer.stream)) {
      read += 1;
      if (read % 2000 === 0) {
        peak = Math.max(peak, heap() - before);
        assert.equal(entry.groupResource, 'configmaps');
      }
    }
    await writing;
    assert.equal(read, 40_000);
    const size = writer.stats.contentBytes;
    assert.ok(size > 150_000_000, `uncompressed size ${size}`);
    t.diagnostic(`heap grew by at most ${peak} bytes while streaming ${size} bytes of items`);
    assert.ok(peak < size / 8, `heap grew by ${peak} bytes for an archive of ${size} bytes`);
  });
});

describe('golden archive (test/fixtures/archive/cairn-1.1.0.tar.gz)', () => {
  // Regenerate with UPDATE_GOLDEN=1 only for a deliberate format change, and say so in the commit.
  it('is still read item for item, byte for byte', async () => {
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(goldenPath, await writeArchive(smallBackup));
    const golden = await readFile(goldenPath);
    const expected = smallBackupPaths.map(([path, object]) => [path, JSON.stringify(object)]);
    assert.deepEqual(
      (await readAll(golden)).map((i) => [i.path, JSON.stringify(i.object)]),
      expected,
    );
    assert.deepEqual(
      (await tarEntries(golden)).map((e) => [e.name, e.content]),
      [['metadata/version', '1.1.0\n'], ...expected],
    );
  });

  it('is still the tar this writer writes (compared after gunzip: zlib builds may compress differently)', async () => {
    const golden = gunzipSync(await readFile(goldenPath));
    assert.ok(golden.equals(gunzipSync(await writeArchive(smallBackup))));
  });
});

describe('ArchiveWriter tar bytes', () => {
  /** The tar tar-stream's packer writes for the same entries (mode 0755, the clock's mtime). */
  async function packed(entries: [string, Buffer][]): Promise<Buffer> {
    const pack = tar.pack();
    const bytes = buffer(pack);
    for (const [name, content] of entries) pack.entry({ name, mode: 0o755, mtime: clock() }, content);
    pack.finalize();
    return bytes;
  }

  it("are tar-stream's for items of every shape: block boundaries, long, non-ASCII and PAX paths, multi-byte and big content", async () => {
    const items: ArchiveItemInput[] = [];
    // Enough small items to fill several of the writer's blocks (a MiB each), entries straddling each edge.
    for (let i = 0; i < 1500; i++)
      items.push(item('configmaps', `ns-${i % 7}`, `cm-${i}`, { data: { v: 'x'.repeat(i % 1800) } }));
    items.push(item('configmaps', 'n'.repeat(63), `a${'b'.repeat(250)}`, { long: true }));
    items.push(item('configmaps', 'shop', 'café-ünïcode', { text: 'héllo wörld ✓ 日本語 🎉' }));
    items.push(item('secrets', 'shop', 'big', { data: { blob: 'y'.repeat(1_500_000) } }));
    items.push(item('secrets', 'shop', 'big-multibyte', { data: { blob: '日本'.repeat(200_000) } }));
    items.push(item('configmaps', 'shop', 'after-big', { ok: 1 }));
    items.push({
      ...item('widgets.example.com', 'shop', 'w', { kind: 'Widget' }, 'v2'),
      preferredVersion: 'v1',
    });
    const expected: [string, Buffer][] = [['metadata/version', Buffer.from('1.1.0\n')]];
    for (const input of items) {
      const json = Buffer.from(JSON.stringify(input.object));
      const location = input.namespace === undefined ? 'cluster' : `namespaces/${input.namespace}`;
      const legacy = `resources/${input.groupResource}/${location}/${input.name}.json`;
      if (input.version === input.preferredVersion) {
        expected.push([legacy, json]);
        expected.push([
          `resources/${input.groupResource}/${input.version}-preferredversion/${location}/${input.name}.json`,
          json,
        ]);
      } else
        expected.push([
          `resources/${input.groupResource}/${input.version}/${location}/${input.name}.json`,
          json,
        ]);
    }
    const written = gunzipSync(await writeArchive(items));
    const reference = await packed(expected);
    // tar-stream ends with two zero blocks too; compare the whole byte strings.
    assert.equal(written.length, reference.length);
    assert.ok(written.equals(reference), "the tar bytes differ from tar-stream's");
  });
});

describe('ArchiveWriter without the duplicate check', () => {
  it('leaves uniqueness to the caller and keeps no set of paths', async () => {
    const writer = new ArchiveWriter({ now: () => new Date(0), checkDuplicates: false });
    writer.stream.resume();
    const item = {
      groupResource: 'configmaps',
      namespace: 'shop',
      name: 'a',
      version: 'v1',
      preferredVersion: 'v1',
      object: {},
    };
    await writer.addItem(item);
    await writer.addItem(item);
    await writer.finish();
    assert.equal(writer.stats.items, 2);
  });
});
