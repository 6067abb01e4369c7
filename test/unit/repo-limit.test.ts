// forEachInOrder: at most `concurrency` tasks at once, results consumed in the order of the items
// whatever order the tasks finish in, and a failure stops the run only after the started tasks settled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachInOrder } from '../../src/repo/limit.ts';

/** A task per item that finishes when the test says so. */
function controlled(count: number) {
  const finish: ((value: number | Error) => void)[] = [];
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const task = (item: number) => {
    started.push(item);
    most = Math.max(most, ++running);
    return new Promise<number>((resolve, reject) => {
      finish[item] = (value) => {
        running--;
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
    });
  };
  const items = Array.from({ length: count }, (_, i) => i);
  return { items, task, finish, started, most: () => most, running: () => running };
}

/** Lets every pending promise reaction run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('forEachInOrder', () => {
  it('consumes the results in the order of the items, with at most `concurrency` tasks running', async () => {
    const c = controlled(6);
    const consumed: [number, number][] = [];
    const run = forEachInOrder(c.items, 3, c.task, (result, item) => consumed.push([item, result]));
    await settle();
    assert.deepEqual(c.started, [0, 1, 2]);
    c.finish[2]?.(20);
    c.finish[1]?.(10);
    await settle();
    assert.equal(consumed.length, 0, 'item 0 is not done: nothing after it is consumed');
    assert.deepEqual(c.started, [0, 1, 2], 'no task starts while the results wait for item 0');
    c.finish[0]?.(0);
    await settle();
    assert.deepEqual(consumed, [
      [0, 0],
      [1, 10],
      [2, 20],
    ]);
    assert.deepEqual(c.started, [0, 1, 2, 3, 4, 5]);
    for (const i of [5, 4, 3]) c.finish[i]?.(i * 10);
    await run;
    assert.deepEqual(
      consumed.map(([item]) => item),
      [0, 1, 2, 3, 4, 5],
    );
    assert.equal(c.most(), 3);
  });

  it('stops at the first failure in item order, after the started tasks settled', async () => {
    const c = controlled(5);
    const consumed: number[] = [];
    const run = forEachInOrder(c.items, 2, c.task, (_result, item) => consumed.push(item));
    let rejected = false;
    const outcome = run.catch((error: unknown) => {
      rejected = true;
      return error;
    });
    await settle();
    c.finish[1]?.(new Error('task 1 failed'));
    c.finish[0]?.(0);
    await settle();
    assert.equal(rejected, false, 'task 2, started when item 0 was consumed, has not settled');
    assert.deepEqual(consumed, [0]);
    c.finish[2]?.(2);
    assert.match(String(await outcome), /task 1 failed/);
    assert.deepEqual(consumed, [0], 'nothing after the failed item is consumed');
    assert.deepEqual(c.started, [0, 1, 2]);
    assert.equal(c.running(), 0);
  });

  it('does nothing for no items, and refuses a concurrency below 1', async () => {
    await forEachInOrder([], 4, () => Promise.reject(new Error('never')), assert.fail);
    await assert.rejects(
      forEachInOrder([1], 0, () => Promise.resolve(1), assert.fail),
      RangeError,
    );
  });
});
