// What a restore reports, whatever order its items finished in (src/restore/recorder.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BEFORE_EVERYTHING, Recorder } from '../../src/restore/recorder.ts';
import type { PlanEntry, RestoreProgress } from '../../src/restore/types.ts';

const entry = (
  name: string,
  outcome: PlanEntry['outcome'] = 'created',
  groupResource = 'configmaps',
): PlanEntry => ({
  outcome,
  groupResource,
  namespace: 'shop',
  name,
});

describe('the restore recorder', () => {
  it('puts the plan in restore order however the items finished', () => {
    const recorder = new Recorder({});
    recorder.record(entry('b-second', 'created', 'deployments.apps'), { rank: 5, index: 1 });
    recorder.record(entry('c-cm', 'unchanged'), { rank: 3, index: 0 });
    recorder.record(entry('a-first', 'created', 'deployments.apps'), { rank: 5, index: 0 });
    recorder.record({ outcome: 'created', groupResource: 'namespaces', name: 'shop' }, { rank: 1, index: 0 });
    recorder.record({ outcome: 'created', groupResource: 'namespaces', name: 'cart' }, { rank: 1, index: 0 });
    recorder.record(
      { outcome: 'deleted', groupResource: 'namespaces', name: 'shop' },
      { rank: BEFORE_EVERYTHING, index: 1 },
    );
    assert.deepEqual(
      recorder.finish(undefined, false).plan.map((e) => `${e.outcome} ${e.groupResource} ${e.name}`),
      [
        'deleted namespaces shop',
        'created namespaces cart',
        'created namespaces shop',
        'unchanged configmaps c-cm',
        'created deployments.apps a-first',
        'created deployments.apps b-second',
      ],
    );
  });

  it('counts every outcome but deletions, and lists each under its resource, sorted', () => {
    const progress: RestoreProgress[] = [];
    const recorder = new Recorder({ onProgress: (p) => progress.push(p) });
    recorder.record(
      { outcome: 'deleted', groupResource: 'namespaces', name: 'shop' },
      { rank: BEFORE_EVERYTHING, index: 0 },
    );
    recorder.record(entry('z', 'failed'), { rank: 0, index: 1 }, 'v1/ConfigMap');
    recorder.record(entry('a', 'created'), { rank: 0, index: 0 }, 'v1/ConfigMap');
    const outcome = recorder.finish(undefined, false);
    assert.deepEqual(outcome.counts, {
      created: 1,
      updated: 0,
      recreated: 0,
      unchanged: 0,
      skipped: 0,
      failed: 1,
    });
    assert.deepEqual(outcome.resourceList, { 'v1/ConfigMap': ['shop/a(created)', 'shop/z(failed)'] });
    assert.deepEqual(outcome.progress, { itemsRestored: 2, totalItems: 2 });
    assert.deepEqual(progress.at(-1), { itemsRestored: 2, totalItems: 2 });
  });

  it('says PartiallyFailed when an error was logged, and Failed with the reason when the restore stopped', () => {
    const errors = new Recorder({});
    errors.log({ level: 'error', message: 'cannot create', namespace: 'shop' });
    assert.equal(errors.finish(undefined, false).phase, 'PartiallyFailed');
    assert.deepEqual(errors.results.errors.namespaces, { shop: ['cannot create'] });
    const stopped = new Recorder({}).finish('aborted: stop', false);
    assert.equal(stopped.phase, 'Failed');
    assert.equal(stopped.failureReason, 'aborted: stop');
  });
});
