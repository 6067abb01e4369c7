// Point-in-time consistency where the server cannot serve an exact-revision list: the backup engine falls
// back to the latest state for that resource only, says so as a warning naming it, and still backs up
// its objects. Kubernetes 1.34 serves exact lists from its watch cache even after etcd compacts, so the
// test puts a fault-injecting proxy in front of the real API server that answers one resource's exact
// lists with 410 Gone ("too old resource version"), as a server does for a compacted revision.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { ArchiveWriter, readArchive } from '../../src/archive/index.ts';
import { compileSelection, runBackupEngine } from '../../src/backup/index.ts';
import { discover, KubeClient, ResourceMapper } from '../../src/kube/index.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { clusterClient, testNamespace } from '../helpers/testbed.ts';

describe('a revision the server cannot serve', () => {
  it('lists that resource at its latest state, warns naming it, and keeps the others at the revision', async (t) => {
    const admin = clusterClient('a');
    const ns = await testNamespace(t, admin, 'gone');
    await admin.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'cm' } },
    });
    await admin.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: 's' }, stringData: { k: 'v' } },
    });
    const proxy = await startFaultProxy((req) =>
      /\/configmaps\?/.test(req.url ?? '') && /resourceVersionMatch=Exact/.test(req.url ?? '')
        ? { status: 410 }
        : undefined,
    );
    t.after(() => proxy.close());
    const client = new KubeClient(proxy.kubeConfig);
    const mapper = new ResourceMapper((await discover(client)).resources);
    const { selection } = compileSelection({ includedNamespaces: [ns] }, mapper);
    assert.ok(selection);
    const archive = new ArchiveWriter({ now: () => new Date() });
    const chunks: Buffer[] = [];
    archive.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const outcome = await runBackupEngine({ client, mapper, selection, consistency: 'snapshot', archive });
    await archive.finish();

    assert.equal(outcome.phase, 'Completed');
    assert.deepEqual(outcome.consistency.bestEffortResources, ['configmaps']);
    assert.ok(outcome.consistency.revision, 'the other resources were listed at one revision');
    const warnings = outcome.results.warnings.cluster ?? [];
    assert.ok(
      warnings.some((w) =>
        /^configmaps cannot be listed at revision \d+ .*; listed at its latest state instead$/.test(w),
      ),
      warnings.join('\n'),
    );
    const paths: string[] = [];
    for await (const item of readArchive(Readable.from(Buffer.concat(chunks)))) paths.push(item.path);
    assert.ok(paths.includes(`resources/configmaps/namespaces/${ns}/cm.json`), 'the config map is backed up');
    assert.ok(paths.includes(`resources/secrets/namespaces/${ns}/s.json`));
    // The secrets were listed at the revision; the config maps once at it (refused) and then without it.
    const configmapLists = proxy.seen.filter(
      (s) => s.startsWith('GET /api/v1/configmaps?') || s.includes('/configmaps?'),
    );
    assert.ok(configmapLists.some((s) => s.includes('resourceVersionMatch=Exact')));
    assert.ok(configmapLists.some((s) => !s.includes('resourceVersionMatch')));
    assert.ok(proxy.seen.some((s) => s.includes('/secrets?') && s.includes('resourceVersionMatch=Exact')));
  });

  it('writes each object once when a list expires mid-way and the resource is listed again', async (t) => {
    const admin = clusterClient('a');
    const ns = await testNamespace(t, admin, 'midway');
    for (const name of ['a', 'b', 'c', 'd'])
      await admin.json({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/configmaps`,
        body: { metadata: { name } },
      });
    // The second page of the config maps (a continue token) is refused once with 410, as when a list
    // outlives etcd's compaction: the first page was already written.
    let refused = 0;
    const proxy = await startFaultProxy((req) => {
      if (refused === 0 && /\/configmaps\?/.test(req.url ?? '') && /continue=/.test(req.url ?? '')) {
        refused++;
        return { status: 410 };
      }
      return undefined;
    });
    t.after(() => proxy.close());
    const client = new KubeClient(proxy.kubeConfig);
    const mapper = new ResourceMapper((await discover(client)).resources);
    const { selection } = compileSelection(
      { includedNamespaces: [ns], includedResources: ['configmaps'] },
      mapper,
    );
    assert.ok(selection);
    for (const copyRawItems of [true, false]) {
      refused = 0;
      const archive = new ArchiveWriter({ now: () => new Date(), checkDuplicates: false });
      const chunks: Buffer[] = [];
      archive.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      const outcome = await runBackupEngine({
        client,
        mapper,
        selection,
        consistency: 'snapshot',
        archive,
        pageSize: 2,
        copyRawItems,
      });
      await archive.finish();
      assert.equal(refused, 1, 'the fault fired');
      assert.equal(outcome.phase, 'Completed');
      assert.deepEqual(outcome.consistency.bestEffortResources, ['configmaps']);
      const paths: string[] = [];
      for await (const item of readArchive(Readable.from(Buffer.concat(chunks)))) paths.push(item.path);
      const legacy = paths.filter((p) => p.startsWith(`resources/configmaps/namespaces/${ns}/`)).sort();
      assert.deepEqual(
        legacy,
        ['a', 'b', 'c', 'd', 'kube-root-ca.crt'].map(
          (n) => `resources/configmaps/namespaces/${ns}/${n}.json`,
        ),
        `raw copy ${copyRawItems}: each once`,
      );
      assert.equal(outcome.progress.itemsBackedUp, paths.length / 2, `raw copy ${copyRawItems}`);
    }
  });
});
