// Reading a backup for a restore: the archive is read and checked through before extractBackup returns,
// then each (group-resource, version) streams back from disk. Velero's archives are hand-built from
// Velero's documented format (test/helpers/velero-fixture.ts), never by Cairn's writer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import tar from 'tar-stream';
import { gunzipSync } from 'node:zlib';
import type { Backup } from '../../src/api/index.ts';
import {
  ArchiveCorruptError,
  ArchiveItemTooLargeError,
  ArchiveWriter,
  type ArchiveItemInput,
} from '../../src/archive/index.ts';
import {
  BackupContentsClosedError,
  ConflictingVersionsError,
  InvalidBackupItemError,
  ResourceVersionNotInBackupError,
  extractBackup,
  versionOf,
  type BackupContents,
  type ContentItem,
  type ExtractBackupOptions,
} from '../../src/restore/contents.ts';
import {
  BackupStore,
  ChecksumMismatchError,
  FilesystemStore,
  MemoryStore,
  TamperedObjectError,
  UnreadableFileError,
  generateLocationKey,
  manifestOf,
  type ObjectStore,
} from '../../src/storage/index.ts';
import { flip, rejection } from '../helpers/bytes.ts';
import {
  FIXTURE_FILES,
  FIXTURE_TIME,
  goGzip,
  goJson,
  goTar,
  veleroArchive,
  veleroBucket,
  veleroItems,
  type FixtureVariant,
  type TarFile,
  type VeleroItem,
} from '../helpers/velero-fixture.ts';

const fixtureDir = join(import.meta.dirname, '..', 'fixtures', 'velero');
const variants = Object.keys(FIXTURE_FILES) as FixtureVariant[];

async function fixture(variant: FixtureVariant): Promise<Buffer> {
  return readFile(join(fixtureDir, FIXTURE_FILES[variant]));
}

/** An empty directory for one test, removed after it. */
async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-restore-contents-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function extract(
  t: TestContext,
  archive: Buffer | Readable,
  options: Omit<ExtractBackupOptions, 'dir'> = {},
): Promise<{ contents: BackupContents; dir: string }> {
  const dir = await tempDir(t);
  const source = Buffer.isBuffer(archive) ? Readable.from([archive]) : archive;
  const contents = await extractBackup(source, { ...options, dir });
  t.after(() => contents.close());
  return { contents, dir };
}

async function collect(
  contents: BackupContents,
  groupResource: string,
  version: string,
): Promise<ContentItem[]> {
  const items: ContentItem[] = [];
  for await (const item of contents.items(groupResource, version)) items.push(item);
  return items;
}

/** What items() must yield for a list of Velero items: the same objects, grouped by (resource, version). */
function expectedItems(items: VeleroItem[]): Map<string, ContentItem[]> {
  const byKey = new Map<string, ContentItem[]>();
  for (const { groupResource, namespace, name, version, object } of items) {
    const key = `${groupResource} ${version}`;
    const item = { groupResource, name, version, object: object as ContentItem['object'] };
    byKey.set(key, [...(byKey.get(key) ?? []), namespace === undefined ? item : { ...item, namespace }]);
  }
  return byKey;
}

async function allItems(contents: BackupContents): Promise<Map<string, ContentItem[]>> {
  const byKey = new Map<string, ContentItem[]>();
  for (const resource of contents.resources.values()) {
    for (const version of resource.versions) {
      byKey.set(
        `${resource.groupResource} ${version}`,
        await collect(contents, resource.groupResource, version),
      );
    }
  }
  return byKey;
}

function archiveOf(files: TarFile[]): Buffer {
  return goGzip(goTar(files));
}

const kube = (apiVersion: string, kind: string, name: string, extra: object = {}) =>
  goJson({ apiVersion, kind, metadata: { name }, ...extra });

async function writeCairnArchive(items: ArchiveItemInput[]): Promise<Buffer> {
  const writer = new ArchiveWriter({ now: () => FIXTURE_TIME });
  const bytes = buffer(writer.stream);
  for (const item of items) await writer.addItem(item);
  await writer.finish();
  return bytes;
}

describe('the Velero fixtures', () => {
  // Regenerate with UPDATE_GOLDEN=1 only when the generator deliberately changes, and say why in the commit.
  it('are exactly what the hand-written generator builds from Velero’s format documentation', async () => {
    if (process.env['UPDATE_GOLDEN'] === '1') {
      await mkdir(fixtureDir, { recursive: true });
      for (const variant of variants)
        await writeFile(join(fixtureDir, FIXTURE_FILES[variant]), veleroArchive(variant));
    }
    for (const variant of variants) assert.deepEqual(await fixture(variant), veleroArchive(variant), variant);
  });

  it('carry Velero’s tar headers: metadata/version first, regular files of mode 0755, no directories', async () => {
    const extractor = tar.extract();
    Readable.from([gunzipSync(await fixture('1.1.0'))]).pipe(extractor);
    const headers: [string, number | undefined, string | null | undefined, number | undefined][] = [];
    let version = '';
    for await (const entry of extractor) {
      const { name, mode, type, mtime } = entry.header;
      const content = await buffer(entry as AsyncIterable<Buffer>);
      if (name === 'metadata/version') version = content.toString();
      headers.push([name, mode, type, mtime?.getTime()]);
    }
    assert.equal(headers[0]?.[0], 'metadata/version');
    assert.equal(version, '1.1.0\n');
    for (const [name, mode, type, mtime] of headers) {
      assert.deepEqual([mode, type, mtime], [0o755, 'file', FIXTURE_TIME.getTime()], name);
    }
    assert.ok(
      headers.some(([name]) => name.length > 100),
      'a long path goes through the USTAR prefix field',
    );
    assert.equal(headers.length, 1 + 2 * 10 + 2, 'version, ten items at two paths, two non-preferred copies');
  });
});

describe('extractBackup on Velero archives', () => {
  it('reads a Velero 1.1.0 archive: preferred versions, other versions, and no legacy duplicates', async (t) => {
    const { contents, dir } = await extract(t, await fixture('1.1.0'));
    assert.equal(contents.formatVersion, '1.1.0');
    assert.deepEqual(
      [...contents.resources.values()].map((r) => [r.groupResource, r.preferredVersion, r.versions, r.count]),
      [
        ['persistentvolumeclaims', 'v1', ['v1'], 1],
        ['persistentvolumes', 'v1', ['v1'], 1],
        ['configmaps', 'v1', ['v1'], 1],
        ['namespaces', 'v1', ['v1'], 1],
        ['secrets', 'v1', ['v1'], 1],
        ['services', 'v1', ['v1'], 1],
        ['deployments.apps', 'v1', ['v1'], 1],
        ['customresourcedefinitions.apiextensions.k8s.io', 'v1', ['v1'], 1],
        ['widgets.example.com', 'v2', ['v2', 'v1'], 2],
      ],
    );
    const widgets = contents.resources.get('widgets.example.com');
    assert.deepEqual([widgets?.namespaced, [...(widgets?.namespaces ?? [])]], [true, ['shop']]);
    const pvs = contents.resources.get('persistentvolumes');
    assert.deepEqual([pvs?.namespaced, pvs?.namespaces.size], [false, 0]);

    assert.deepEqual(await allItems(contents), expectedItems(veleroItems()));
    assert.equal(
      (await readdir(dir)).length,
      10,
      'one file per resource and version; the legacy copies are gone',
    );
  });

  it('reads a Velero format 1 archive (legacy paths only) in the version of each object’s apiVersion', async (t) => {
    const { contents } = await extract(t, await fixture('1'));
    assert.equal(contents.formatVersion, '1');
    const widgets = contents.resources.get('widgets.example.com');
    assert.deepEqual([widgets?.preferredVersion, widgets?.versions, widgets?.count], ['v2', ['v2'], 2]);
    assert.equal(contents.resources.get('deployments.apps')?.preferredVersion, 'v1');
    assert.deepEqual(await allItems(contents), expectedItems(veleroItems().filter((item) => item.preferred)));
  });

  it('reads a Velero archive re-packed by GNU tar: ./ names, directory entries, long-name entries', async (t) => {
    const repacked = await extract(t, await fixture('1.1.0-repacked'));
    const original = await extract(t, await fixture('1.1.0'));
    const sorted = (contents: BackupContents) =>
      [...contents.resources.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    assert.deepEqual(sorted(repacked.contents), sorted(original.contents));
    assert.deepEqual(await allItems(repacked.contents), await allItems(original.contents));
  });

  it('serves every legacy item as the preferred version, each with its own apiVersion’s version', async (t) => {
    // Not something Velero writes (it lists a resource in one version), but nothing may be lost.
    const { contents } = await extract(
      t,
      archiveOf([
        { name: 'metadata/version', content: '1\n' },
        {
          name: 'resources/deployments.apps/namespaces/a/new.json',
          content: kube('apps/v1', 'Deployment', 'new'),
        },
        {
          name: 'resources/deployments.apps/namespaces/a/old.json',
          content: kube('apps/v1beta2', 'Deployment', 'old'),
        },
      ]),
    );
    const deployments = contents.resources.get('deployments.apps');
    assert.deepEqual(
      [deployments?.preferredVersion, deployments?.versions, deployments?.count],
      ['v1', ['v1'], 2],
    );
    assert.deepEqual(
      (await collect(contents, 'deployments.apps', 'v1')).map((item) => [item.name, item.version]),
      [
        ['new', 'v1'],
        ['old', 'v1beta2'],
      ],
    );
  });

  it('ignores the legacy copy whichever comes first, as older Velero wrote the versioned path first', async (t) => {
    const configMap = kube('v1', 'ConfigMap', 'settings');
    const { contents, dir } = await extract(
      t,
      archiveOf([
        { name: 'metadata/version', content: '1.1.0\n' },
        { name: 'resources/configmaps/v1-preferredversion/namespaces/a/settings.json', content: configMap },
        { name: 'resources/configmaps/namespaces/a/settings.json', content: configMap },
      ]),
    );
    assert.equal(contents.resources.get('configmaps')?.count, 1);
    assert.equal((await collect(contents, 'configmaps', 'v1')).length, 1);
    assert.equal((await readdir(dir)).length, 1, 'the legacy copy was never written');
  });
});

describe('extractBackup refuses a damaged archive before returning, and leaves no file behind', () => {
  it('a truncated archive is ArchiveCorruptError', async (t) => {
    const dir = await tempDir(t);
    const archive = await fixture('1.1.0');
    const error = await rejection(
      extractBackup(Readable.from([archive.subarray(0, archive.length / 2)]), { dir }),
    );
    assert.ok(error instanceof ArchiveCorruptError, String(error));
    assert.deepEqual(await readdir(dir), []);
  });

  it('damage that shows only at the end (the gzip CRC), after the items were written, is ArchiveCorruptError', async (t) => {
    const dir = await tempDir(t);
    const archive = await fixture('1.1.0');
    const damaged = flip(archive, archive.length - 8);
    // Delivered as a store would, in small pieces: the items are read and written before the damage shows.
    const pieces = Array.from({ length: Math.ceil(damaged.length / 64) }, (_, i) =>
      damaged.subarray(i * 64, i * 64 + 64),
    );
    const error = await rejection(extractBackup(Readable.from(pieces), { dir }));
    assert.ok(error instanceof ArchiveCorruptError, String(error));
    assert.match(error.message, /^corrupt archive: gzip stream: incorrect data check$/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('a source that fails midway rejects with the source’s own error', async (t) => {
    const dir = await tempDir(t);
    const archive = await fixture('1.1.0');
    const source = new Readable({ read() {} });
    source.push(archive.subarray(0, 2000));
    setImmediate(() => source.destroy(new Error('connection reset by the store')));
    await assert.rejects(extractBackup(source, { dir }), /connection reset by the store/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('aborting rejects with the signal’s reason', async (t) => {
    const dir = await tempDir(t);
    const archive = await fixture('1.1.0');
    const source = new Readable({ read() {} });
    source.push(archive.subarray(0, 2000));
    const controller = new AbortController();
    setImmediate(() => controller.abort(new Error('restore cancelled')));
    await assert.rejects(extractBackup(source, { dir, signal: controller.signal }), /restore cancelled/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('an item over maxItemBytes is ArchiveItemTooLargeError', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      extractBackup(Readable.from([await fixture('1.1.0')]), { dir, maxItemBytes: 1000 }),
      ArchiveItemTooLargeError,
    );
    assert.deepEqual(await readdir(dir), []);
  });

  it('an item that is not a Kubernetes object is InvalidBackupItemError naming the entry and the field', async (t) => {
    const dir = await tempDir(t);
    const archive = archiveOf([
      { name: 'metadata/version', content: '1.1.0\n' },
      { name: 'resources/configmaps/namespaces/a/good.json', content: kube('v1', 'ConfigMap', 'good') },
      {
        name: 'resources/configmaps/namespaces/a/bad.json',
        content: goJson({ kind: 'ConfigMap', metadata: {} }),
      },
    ]);
    const error = await rejection(extractBackup(Readable.from([archive]), { dir }));
    assert.ok(error instanceof InvalidBackupItemError);
    assert.deepEqual([error.path, error.field], ['resources/configmaps/namespaces/a/bad.json', 'apiVersion']);
    assert.equal(
      error.message,
      'backup item resources/configmaps/namespaces/a/bad.json: apiVersion must be a non-empty string',
    );
    assert.deepEqual(await readdir(dir), []);
  });

  it('a legacy item whose apiVersion has no usable version is InvalidBackupItemError', async (t) => {
    const dir = await tempDir(t);
    const archive = archiveOf([
      { name: 'metadata/version', content: '1\n' },
      {
        name: 'resources/deployments.apps/namespaces/a/web.json',
        content: kube('apps/', 'Deployment', 'web'),
      },
    ]);
    const error = await rejection(extractBackup(Readable.from([archive]), { dir }));
    assert.ok(error instanceof InvalidBackupItemError);
    assert.match(error.message, /apiVersion "apps\/" does not end in a version such as v1/);
  });

  it('version directories that contradict each other are ConflictingVersionsError', async (t) => {
    const dir = await tempDir(t);
    const widget = (path: string, version: string) => ({
      name: `resources/widgets.example.com/${path}`,
      content: kube(`example.com/${version}`, 'Widget', 'a'),
    });
    for (const [second, message] of [
      [widget('v2-preferredversion/cluster/b.json', 'v2'), 'two preferred versions, v1 and v2'],
      [widget('v1/cluster/b.json', 'v1'), 'version v1 has both a v1/ and a v1-preferredversion/ directory'],
    ] as const) {
      const archive = archiveOf([
        { name: 'metadata/version', content: '1.1.0\n' },
        widget('v1-preferredversion/cluster/a.json', 'v1'),
        second,
      ]);
      const error = await rejection(extractBackup(Readable.from([archive]), { dir }));
      assert.ok(error instanceof ConflictingVersionsError);
      assert.equal(error.message, `backup archive resources/widgets.example.com: ${message}`);
      assert.deepEqual(await readdir(dir), []);
    }
  });
});

describe('BackupContents', () => {
  it('streams each resource back in archive order through a bounded number of open files', async (t) => {
    // Twelve resources interleaved item by item, with two write streams: every append past the second
    // resource closes one file and reopens another.
    const inputs: ArchiveItemInput[] = [];
    for (let i = 0; i < 5; i += 1) {
      for (let r = 0; r < 12; r += 1) {
        inputs.push({
          groupResource: `things${r}.example.com`,
          namespace: `ns-${i % 2}`,
          name: `item-${i}`,
          version: 'v1',
          preferredVersion: 'v1',
          object: {
            apiVersion: 'example.com/v1',
            kind: 'Thing',
            metadata: { name: `item-${i}` },
            data: 'é😀\n',
          },
        });
      }
    }
    const { contents, dir } = await extract(t, await writeCairnArchive(inputs), { maxOpenFiles: 2 });
    assert.equal(contents.resources.size, 12);
    for (const resource of contents.resources.values()) {
      assert.deepEqual([resource.count, [...resource.namespaces].sort()], [5, ['ns-0', 'ns-1']]);
      const items = await collect(contents, resource.groupResource, 'v1');
      assert.deepEqual(
        items.map((item) => [item.namespace, item.name, item.object['data']]),
        [0, 1, 2, 3, 4].map((i) => [`ns-${i % 2}`, `item-${i}`, 'é😀\n']),
      );
    }
    assert.equal((await readdir(dir)).length, 12);
  });

  it('can be read again, and stops early without harm', async (t) => {
    const { contents } = await extract(t, await fixture('1.1.0'));
    for await (const item of contents.items('widgets.example.com', 'v2')) {
      assert.equal(item.name, 'blue');
      break;
    }
    assert.deepEqual(
      (await collect(contents, 'widgets.example.com', 'v2')).map((item) => item.name),
      ['blue', 'green'],
    );
  });

  it('says when a resource or version is not in the backup', async (t) => {
    const { contents } = await extract(t, await fixture('1.1.0'));
    await assert.rejects(
      collect(contents, 'widgets.example.com', 'v3'),
      (e: unknown) =>
        e instanceof ResourceVersionNotInBackupError &&
        e.message === 'backup holds no items of "widgets.example.com" in version "v3"',
    );
    await assert.rejects(collect(contents, 'pods', 'v1'), ResourceVersionNotInBackupError);
  });

  it('stops reading with the signal’s reason', async (t) => {
    const { contents } = await extract(t, await fixture('1.1.0'));
    const controller = new AbortController();
    const read = async () => {
      for await (const _item of contents.items('widgets.example.com', 'v2', { signal: controller.signal })) {
        controller.abort(new Error('restore cancelled'));
      }
    };
    await assert.rejects(read(), /restore cancelled/);
  });

  it('removes its files on close, after which items() fails', async (t) => {
    const { contents, dir } = await extract(t, await fixture('1.1.0'));
    const reading = contents.items('widgets.example.com', 'v2');
    await reading.next();
    await contents.close();
    await contents.close();
    assert.deepEqual(await readdir(dir), []);
    await assert.rejects(reading.next(), BackupContentsClosedError);
    await assert.rejects(collect(contents, 'namespaces', 'v1'), BackupContentsClosedError);
  });

  it('does not overwrite a file already in the directory', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'items-0000.ndjson'), 'mine');
    await assert.rejects(extractBackup(Readable.from([await fixture('1.1.0')]), { dir }), { code: 'EEXIST' });
    assert.deepEqual(await readdir(dir), ['items-0000.ndjson']);
    assert.equal(await readFile(join(dir, 'items-0000.ndjson'), 'utf8'), 'mine');
  });
});

describe('versionOf', () => {
  it('takes the version part of an apiVersion', () => {
    assert.deepEqual(
      ['apps/v1', 'v1', 'example.com/v2beta1'].map((apiVersion) => versionOf(apiVersion)),
      ['v1', 'v1', 'v2beta1'],
    );
  });
});

for (const [kind, open] of [
  ['memory', () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() })],
  [
    'filesystem',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'cairn-velero-bucket-'));
      return {
        store: new FilesystemStore({ root }) as ObjectStore,
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  ],
] as const) {
  describe(`a backup read through the backup store (${kind} store)`, () => {
    it('reads a backup Velero wrote: its metadata, and its plaintext archive, with or without a location key', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      for (const [key, bytes] of veleroBucket('nightly')) await store.put(key, bytes);
      for (const backups of [
        new BackupStore({ location: 'velero', store }),
        new BackupStore({ location: 'velero', store, key: generateLocationKey() }),
      ]) {
        const backup = await backups.getBackup('nightly');
        assert.deepEqual(
          [
            backup?.apiVersion,
            backup?.status?.phase,
            backup?.status?.formatVersion,
            backup?.status?.encryption,
          ],
          ['velero.io/v1', 'Completed', '1.1.0', undefined],
        );
        assert.equal((await backups.getEntry('nightly'))?.complete, true);
        const { contents } = await extract(t, await backups.openFile('nightly', 'archive'));
        assert.deepEqual(await allItems(contents), expectedItems(veleroItems()));
        assert.deepEqual(
          gunzipSync(await buffer(await backups.openFile('nightly', 'results'))).toString(),
          '{"errors":{},"warnings":{}}',
        );
      }
    });

    it('reads an encrypted Cairn backup, and refuses it whole when one stored byte changed', async (t) => {
      const { store, cleanup } = await open();
      t.after(cleanup);
      const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
      // Incompressible data spreads the archive over several encryption chunks; the damage is in the last.
      const inputs: ArchiveItemInput[] = Array.from({ length: 40 }, (_, i) => ({
        groupResource: 'configmaps',
        namespace: 'shop',
        name: `blob-${i}`,
        version: 'v1',
        preferredVersion: 'v1',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `blob-${i}` },
          binaryData: { b: randomBytes(8000).toString('base64') },
        },
      }));
      const stored = await backups.writeFile('nightly', 'archive', await writeCairnArchive(inputs));
      await backups.verify(stored);
      const { manifest, sha256 } = manifestOf('nightly', [stored], backups.encryption);
      const backup: Backup = {
        apiVersion: 'velero.io/v1',
        kind: 'Backup',
        metadata: { name: 'nightly' },
        spec: { includedNamespaces: ['shop'] },
        status: {
          phase: 'Completed',
          formatVersion: '1.1.0',
          version: 1,
          checksums: sha256,
          ...(backups.encryption ? { encryption: backups.encryption } : {}),
        },
      };
      await backups.commit(backup, manifest);

      const { contents } = await extract(t, await backups.openFile('nightly', 'archive'));
      assert.equal(contents.resources.get('configmaps')?.count, 40);
      assert.deepEqual(
        (await collect(contents, 'configmaps', 'v1')).map((item) => item.object),
        inputs.map((input) => input.object),
      );

      const encrypted = await buffer(await store.get(stored.key));
      assert.ok(encrypted.length > 4 * 65536, 'several encryption chunks');
      // A byte changed mid-file: refused by the chunk's MAC or by the file's checksum, whichever of the two
      // streams reaches it first (that depends on how the store hands out the bytes), naming the file.
      await store.put(stored.key, flip(encrypted, Math.floor(encrypted.length / 2)));
      const dir = await tempDir(t);
      const error = await rejection(extractBackup(await backups.openFile('nightly', 'archive'), { dir }));
      assert.ok(
        error instanceof ChecksumMismatchError ||
          (error instanceof UnreadableFileError && error.cause instanceof TamperedObjectError),
        String(error),
      );
      assert.match(
        error.message,
        /^backups\/nightly\/nightly\.tar\.gz in location "primary" (is corrupt|cannot be read)/,
      );
      assert.deepEqual(await readdir(dir), []);

      // Cut short: the checksum manifest refuses it at its end, before decryption sees the end.
      await store.put(stored.key, encrypted.subarray(0, encrypted.length - 70_000));
      const cut = await rejection(extractBackup(await backups.openFile('nightly', 'archive'), { dir }));
      assert.ok(cut instanceof ChecksumMismatchError, String(cut));
      assert.match(cut.message, /bytes are stored, but \d+ were written/);
      assert.deepEqual(await readdir(dir), []);
    });
  });
}
