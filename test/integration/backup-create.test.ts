// createBackup end to end against the testbed cluster, into several locations at once.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, it, before, type TestContext } from 'node:test';
import { readArchive } from '../../src/archive/index.ts';
import {
  BackupValidationError,
  CLAIM_HEARTBEAT_INTERVAL_MS,
  createBackup,
  STALL_LOG_EVERY_MS,
  STALL_NOTICE_MS,
  type BackupProgress,
} from '../../src/backup/index.ts';
import type { KubeClient } from '../../src/kube/index.ts';
import {
  BackupExistsError,
  BackupStore,
  FilesystemStore,
  generateLocationKey,
  MemoryStore,
  type ObjectStore,
} from '../../src/storage/index.ts';
import { withFaults } from '../helpers/faulty-store.ts';
import { manualClock } from '../helpers/clock.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';
import {
  goBackup,
  goDecode,
  goLogLine,
  goResourceList,
  goResults,
  veleroSelectorBackupJson,
} from '../helpers/velero-fixture.ts';
import { buffer } from 'node:stream/consumers';
import { watched } from '../helpers/watched-store.ts';

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

async function keysOf(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) if (entry.type === 'object') keys.push(entry.key);
  return keys;
}

function run(
  name: string,
  namespace: string,
  stores: BackupStore[],
  extra: { includedResources?: string[] } = {},
) {
  return createBackup({
    client,
    name,
    spec: { includedNamespaces: [namespace], ...extra },
    stores,
    now: () => new Date(),
    writer: 'cairn test',
    uid: `uid-${name}`,
  });
}

describe('creating a backup', () => {
  it('writes the same backup into an encrypted and a plaintext location, each committed last and verifiable', async (t) => {
    const ns = await testNamespace(t, client, 'two');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'settings' }, data: { a: '1' } },
    });
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: 'pw' }, stringData: { password: 'hunter2' } },
    });
    const root = await mkdtemp(join(tmpdir(), 'cairn-create-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const fs = new FilesystemStore({ root });
    const memory = new MemoryStore();
    const encrypted = new BackupStore({ location: 'primary', store: fs, key: generateLocationKey() });
    const plaintext = new BackupStore({ location: 'velero', store: memory });
    const name = `b-${uniqueSuffix()}`;

    const backup = await run(name, ns, [encrypted, plaintext]);
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.deepEqual(
      backup.status?.locations?.map((l) => ({ name: l.name, phase: l.phase })),
      [
        { name: 'primary', phase: 'Completed' },
        { name: 'velero', phase: 'Completed' },
      ],
    );
    // What each location stores: its files' sizes as stored (the encrypted copy is the larger).
    for (const location of backup.status?.locations ?? []) {
      const stored = await keysOf(location.name === 'velero' ? memory : encrypted.store, '');
      assert.ok(
        (location.archiveBytes ?? 0) > 0 && (location.bytes ?? 0) > (location.archiveBytes ?? 0),
        location.name,
      );
      assert.ok(stored.length > 0);
    }
    const [primary, velero] = backup.status?.locations ?? [];
    assert.ok(
      (primary?.archiveBytes ?? 0) > (velero?.archiveBytes ?? 0),
      'encryption adds its headers and tags',
    );
    assert.ok(backup.status?.consistency?.revision, 'the storage revision is recorded');
    assert.equal(backup.spec.storageLocation, 'primary');
    assert.equal(backup.status?.formatVersion, '1.1.0');

    for (const [store, backups] of [
      [fs, encrypted],
      [memory, plaintext],
    ] as const) {
      assert.deepEqual(await keysOf(store, `backups/${name}/`), [
        `backups/${name}/${name}-checksums.json`,
        `backups/${name}/${name}-claim.json`,
        `backups/${name}/${name}-logs.gz`,
        `backups/${name}/${name}-resource-list.json.gz`,
        `backups/${name}/${name}-results.gz`,
        `backups/${name}/${name}.tar.gz`,
        `backups/${name}/velero-backup.json`,
      ]);
      const stored = await backups.getBackup(name);
      // The checksum manifest's SHA-256 is in the metadata, and names every other file's SHA-256.
      const manifestBytes = await buffer(await store.get(`backups/${name}/${name}-checksums.json`));
      assert.equal(createHash('sha256').update(manifestBytes).digest('hex'), stored?.status?.checksums);
      const manifest = JSON.parse(manifestBytes.toString()) as { files: Record<string, { sha256: string }> };
      const archiveBytes = await buffer(await store.get(`backups/${name}/${name}.tar.gz`));
      assert.equal(
        manifest.files[`${name}.tar.gz`]?.sha256,
        createHash('sha256').update(archiveBytes).digest('hex'),
      );

      const paths: string[] = [];
      for await (const item of readArchive(await backups.openFile(name, 'archive'))) paths.push(item.path);
      assert.ok(paths.includes(`resources/secrets/namespaces/${ns}/pw.json`));
      assert.ok(paths.includes(`resources/namespaces/cluster/${ns}.json`));
    }
    // The secret's value never reaches the encrypted location in the clear; the plaintext one is Velero's format.
    const secretB64 = Buffer.from('hunter2').toString('base64');
    const encryptedArchive = await buffer(await fs.get(`backups/${name}/${name}.tar.gz`));
    assert.equal(encryptedArchive.subarray(0, 8).toString(), 'CAIRNENC');
    assert.ok(!gunzipSafe(encryptedArchive).includes(secretB64));
    const plainArchive = gunzipSync(await buffer(await memory.get(`backups/${name}/${name}.tar.gz`)));
    assert.ok(plainArchive.includes(secretB64));
    const metadata = JSON.parse(
      (await buffer(await memory.get(`backups/${name}/velero-backup.json`))).toString(),
    ) as {
      apiVersion: string;
      kind: string;
      metadata: { labels: Record<string, string> };
    };
    assert.equal(metadata.apiVersion, 'velero.io/v1');
    assert.equal(metadata.metadata.labels['velero.io/storage-location'], 'velero');
    const results = JSON.parse(
      gunzipSync(await buffer(await plaintext.openFile(name, 'results'))).toString(),
    ) as object;
    assert.deepEqual(results, { errors: {}, warnings: {} });
  });

  it("stores every file of a plaintext location in the shape of Velero's types", async (t) => {
    const ns = await testNamespace(t, client, 'shape');
    for (const [name, labels] of [
      ['chosen', { app: 'shop', tier: 'a' }],
      ['other', { app: 'shop', tier: 'c' }],
    ] as const)
      await client.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name, labels } },
      });
    const memory = new MemoryStore();
    const name = `shape-${uniqueSuffix()}`;
    const backup = await createBackup({
      client,
      name,
      spec: { includedNamespaces: [ns], labelSelector: 'app=shop,tier in (a,b)' },
      stores: [new BackupStore({ location: 'velero', store: memory })],
      now: () => new Date(),
      writer: 'cairn test',
      uid: `uid-${name}`,
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    const file = async (suffix: string) => buffer(await memory.get(`backups/${name}/${suffix}`));
    const json = (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown;

    const metadata = json(await file('velero-backup.json')) as { spec: Record<string, unknown> };
    assert.deepEqual(goDecode(metadata, goBackup).errors, []);
    const velero = veleroSelectorBackupJson(name, 'labelSelector') as { spec: Record<string, unknown> };
    assert.deepEqual(metadata.spec['labelSelector'], velero.spec['labelSelector']);
    const results = json(gunzipSync(await file(`${name}-results.gz`)));
    assert.deepEqual(goDecode(results, goResults), { errors: [], unknown: [] });
    const resourceList = json(gunzipSync(await file(`${name}-resource-list.json.gz`)));
    assert.deepEqual(goDecode(resourceList, goResourceList), { errors: [], unknown: [] });
    assert.deepEqual((resourceList as Record<string, string[]>)['v1/ConfigMap'], [`${ns}/chosen`]);
    const logLines = gunzipSync(await file(`${name}-logs.gz`))
      .toString()
      .trim()
      .split('\n');
    for (const line of logLines) assert.deepEqual(goDecode(json(Buffer.from(line)), goLogLine).errors, []);
    // The log tells the backup's story, as Velero's does: each list with its count and revision, the
    // location's upload, and the outcome.
    const messages = logLines.map((line) => (json(Buffer.from(line)) as { msg: string }).msg);
    const revision = backup.status?.consistency?.revision ?? '';
    assert.ok(revision !== '');
    assert.ok(
      messages.includes(`backed up 1 configmaps in namespace ${ns}, listed at revision ${revision}`),
      messages.join('\n'),
    );
    assert.ok(messages.some((m) => /^location velero: the archive is stored \(\d+ bytes\)$/.test(m)));
    assert.match(messages.at(-1) ?? '', /^backup done: \d+ items, 0 warnings, 0 errors; /);
  });

  it('refuses a name taken in any location and leaves every location as it was', async (t) => {
    const ns = await testNamespace(t, client, 'taken');
    const first = new BackupStore({
      location: 'first',
      store: new MemoryStore(),
      key: generateLocationKey(),
    });
    const secondStore = new MemoryStore();
    const second = new BackupStore({ location: 'second', store: secondStore, key: generateLocationKey() });
    const name = `taken-${uniqueSuffix()}`;
    await run(name, ns, [second]);
    const before = await keysOf(secondStore, '');
    await assert.rejects(
      run(name, ns, [first, second]),
      (e: unknown) => e instanceof BackupExistsError && e.location === 'second',
    );
    // The claim in the first location was given back; its key record (the key it was given) stays.
    assert.deepEqual(await keysOf(first.store, ''), ['metadata/cairn-location.json']);
    assert.deepEqual(await keysOf(secondStore, ''), before);
  });

  it('refuses a bad spec with every problem named, writing nothing', async () => {
    const store = new MemoryStore();
    const backups = new BackupStore({ location: 'primary', store, key: generateLocationKey() });
    await assert.rejects(
      createBackup({
        client,
        name: 'Bad_Name',
        spec: { includedResources: ['sekrets'], ttl: '30 days' },
        stores: [backups],
        now: () => new Date(),
        writer: 'cairn test',
        uid: 'x',
      }),
      (e: unknown) =>
        e instanceof BackupValidationError &&
        e.problems.map((p) => `${p.field}=${p.value}`).join(' ') ===
          'name=Bad_Name ttl=30 days includedResources=sekrets',
    );
    assert.deepEqual(await keysOf(store, ''), []);
  });

  it('is PartiallyFailed when one location fails, which stays visibly incomplete', async (t) => {
    const ns = await testNamespace(t, client, 'partial');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'c' } },
    });
    const good = new BackupStore({ location: 'good', store: new MemoryStore(), key: generateLocationKey() });
    // The third put of the failing store is the archive (the first is the location's key record, then the claim).
    const failing = withFaults(new MemoryStore(), [
      { method: 'put', call: 3, error: new Error('disk full') },
    ]);
    const bad = new BackupStore({ location: 'bad', store: failing, key: generateLocationKey() });
    const name = `p-${uniqueSuffix()}`;
    const backup = await run(name, ns, [good, bad]);
    assert.equal(backup.status?.phase, 'PartiallyFailed');
    assert.deepEqual(backup.status?.locations?.[1], {
      name: 'bad',
      phase: 'Failed',
      message: 'storing the archive failed: disk full',
    });
    assert.equal((await good.getBackup(name))?.status?.phase, 'PartiallyFailed');
    assert.equal(await bad.getBackup(name), undefined, 'no metadata where the archive is missing');
    const entries = [];
    for await (const entry of bad.listBackups()) entries.push(entry);
    assert.deepEqual(
      entries.map((e) => [e.name, e.complete]),
      [[name, false]],
    );
  });

  it('says which location it waits for while that location takes no bytes, and completes once it does', async (t) => {
    const ns = await testNamespace(t, client, 'stall');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'c' }, data: { a: '1' } },
    });
    // A store that does not read the archive until the test lets it: a stalled object store.
    const memory = new MemoryStore();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let archiveWaiting = false;
    const gated: ObjectStore = {
      description: 'gated',
      put: async (key, body, options) => {
        if (key.endsWith('.tar.gz')) {
          archiveWaiting = true;
          await released;
        }
        return memory.put(key, body, options);
      },
      get: (key, options) => memory.get(key, options),
      head: (key, options) => memory.head(key, options),
      list: (prefix, options) => memory.list(prefix, options),
      delete: (key, options) => memory.delete(key, options),
    };
    t.after(() => release());
    // The backup's clock is the test's: the stall lasts as long as the test moves it on.
    const time = manualClock(Date.now());
    const seen: BackupProgress[] = [];
    const logged: string[] = [];
    const name = `s-${uniqueSuffix()}`;
    const running = createBackup({
      client,
      name,
      spec: { includedNamespaces: [ns] },
      stores: [new BackupStore({ location: 'gated', store: gated })],
      now: () => new Date(time.clock.now()),
      sleep: (ms, signal) => time.clock.sleep(ms, signal),
      writer: 'cairn test',
      uid: `uid-${name}`,
      onProgress: (p) => seen.push(p),
      onLog: (entry) => logged.push(entry.message),
    });
    await eventually('the archive upload to wait and listing to end', () =>
      Promise.resolve(archiveWaiting && seen.some((p) => p.final) ? true : undefined),
    );
    assert.ok(!seen.some((p) => p.waitingFor), 'no stall before its time');
    await time.advance(STALL_NOTICE_MS + 2000);
    const stalled = seen.filter((p) => p.waitingFor);
    assert.ok(stalled.length > 0, 'progress names the stalled location');
    assert.equal(stalled.at(-1)?.waitingFor?.location, 'gated');
    assert.ok((stalled.at(-1)?.waitingFor?.seconds ?? 0) >= STALL_NOTICE_MS / 1000);
    const noticed = () => logged.filter((m) => /^location gated: no progress for \d+ s$/.test(m));
    assert.equal(noticed().length, 1, logged.join('\n'));
    // Said again while it lasts, not at every look.
    await time.advance(STALL_LOG_EVERY_MS);
    assert.equal(noticed().length, 2, logged.join('\n'));

    release();
    const backup = await running;
    assert.equal(backup.status?.phase, 'Completed');
    assert.equal(seen.at(-1)?.waitingFor, undefined, 'the stall is over once the location took the archive');
  });
});

function gunzipSafe(buffer: Buffer): Buffer {
  try {
    return gunzipSync(buffer);
  } catch {
    return buffer;
  }
}

describe("a backup's claim", () => {
  const isClaim = (key: string) => key.endsWith('-claim.json');

  /** A backup of one ConfigMap into a watched memory location, on a clock the test moves. */
  async function setUp(t: TestContext, label: string) {
    const ns = await testNamespace(t, client, label);
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'c' } },
    });
    const objects = watched(new MemoryStore());
    const backups = new BackupStore({ location: 'default', store: objects });
    const time = manualClock(Date.parse('2026-12-01T10:00:00.000Z'));
    const name = `${label}-${uniqueSuffix()}`;
    const create = () =>
      createBackup({
        client,
        name,
        spec: { includedNamespaces: [ns] },
        stores: [backups],
        now: () => new Date(time.clock.now()),
        sleep: (ms, signal) => time.clock.sleep(ms, signal),
        writer: 'cairn test',
        uid: `uid-${name}`,
      });
    return { objects, backups, time, name, create };
  }

  it('stops being refreshed before the commit: no claim write lands after it, even one already sent', async (t) => {
    const { objects, time, name, create } = await setUp(t, 'beat');
    objects.beforePut = (key) => {
      if (!key.endsWith('-logs.gz')) return;
      // A beat comes while the logs are written, and its write is on the wire (the store answers it late).
      objects.hold(isClaim, { onAbort: 'land' });
      void time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    };
    const backup = await create();
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
    assert.equal(time.pendingTimers(), 0, 'no heartbeat waits once the backup is done');
    objects.release();
    await time.advance(10 * CLAIM_HEARTBEAT_INTERVAL_MS);

    const writes = objects.landed.map((key) => key.replace(`backups/${name}/`, ''));
    assert.deepEqual(
      writes.filter((key) => isClaim(key)),
      [`${name}-claim.json`, `${name}-claim.json`],
      'the claim, then its one refresh',
    );
    assert.ok(
      writes.lastIndexOf(`${name}-claim.json`) < writes.indexOf('velero-backup.json'),
      `the refresh landed before the commit: ${writes.join(', ')}`,
    );
  });

  it('fails, bringing back nothing, when the backup is deleted while it runs (as orphaned)', async (t) => {
    const { objects, backups, time, name, create } = await setUp(t, 'deleted');
    objects.beforePut = async (key) => {
      if (!key.endsWith('.tar.gz')) return;
      // The writer looked dead: `cairn backup delete` freed the name; then its heartbeat comes.
      objects.beforePut = undefined;
      await backups.deleteBackup(name);
      void time.advance(CLAIM_HEARTBEAT_INTERVAL_MS);
    };
    const backup = await create();
    assert.equal(backup.status?.phase, 'Failed');
    assert.equal(
      backup.status?.failureReason,
      `the claim on backup "${name}" in location "default" was removed or taken over while the backup ran (was it deleted as orphaned?)`,
    );
    await time.advance(10 * CLAIM_HEARTBEAT_INTERVAL_MS);
    assert.equal(await objects.head(`backups/${name}/${name}-claim.json`), undefined, 'no claim came back');
    assert.equal(await objects.head(`backups/${name}/velero-backup.json`), undefined, 'nothing committed');
  });
});
