// The lease-store conformance suite: the Lease on the API server and the in-memory reference run these
// tests unchanged, so that leader election's unit tests on the reference mean the same as on the real one.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { LeaseConflictError, type LeaseStore } from '../../src/controller/index.ts';
import { rejection } from '../helpers/bytes.ts';

/** A fresh store whose lease does not exist yet. */
export type OpenLeaseStore = (t: TestContext) => Promise<LeaseStore>;

const signal = () => new AbortController().signal;
const spec = (holderIdentity: string) => ({
  holderIdentity,
  leaseDurationSeconds: 15,
  acquireTime: '2026-12-06T00:00:00.000000Z',
  renewTime: '2026-12-06T00:00:00.000000Z',
  leaseTransitions: 0,
});

export function leaseStoreConformance(name: string, open: OpenLeaseStore): void {
  describe(name, () => {
    it('has no lease until one is created, then returns what was written', async (t) => {
      const store = await open(t);
      assert.equal(await store.get(signal()), undefined);
      const created = await store.create(spec('a'), signal());
      assert.deepEqual(created.spec, spec('a'));
      const read = await store.get(signal());
      assert.deepEqual(read, created);
    });

    it('refuses to create a lease that exists', async (t) => {
      const store = await open(t);
      await store.create(spec('a'), signal());
      const error = await rejection(store.create(spec('b'), signal()));
      assert.ok(error instanceof LeaseConflictError, String(error));
      assert.equal((await store.get(signal()))?.spec.holderIdentity, 'a');
    });

    it('updates over the version last read, and gives a new version each time', async (t) => {
      const store = await open(t);
      const created = await store.create(spec('a'), signal());
      const updated = await store.update(created.resourceVersion, spec('b'), signal());
      assert.notEqual(updated.resourceVersion, created.resourceVersion);
      assert.deepEqual((await store.get(signal()))?.spec, spec('b'));
    });

    it('refuses an update over a version that is no longer current: of two writers, one wins', async (t) => {
      const store = await open(t);
      const created = await store.create(spec('a'), signal());
      await store.update(created.resourceVersion, spec('b'), signal());
      const error = await rejection(store.update(created.resourceVersion, spec('c'), signal()));
      assert.ok(error instanceof LeaseConflictError, String(error));
      assert.equal((await store.get(signal()))?.spec.holderIdentity, 'b');
    });

    it('rejects a call whose signal has aborted, and writes nothing', async (t) => {
      const store = await open(t);
      const stop = new AbortController();
      stop.abort(new Error('stopped'));
      await assert.rejects(store.create(spec('a'), stop.signal));
      assert.equal(await store.get(signal()), undefined);
    });
  });
}
