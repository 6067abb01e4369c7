// The client's retries against the real API server behind a fault-injecting proxy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterUnreachableError, KubeApiError, KubeClient, type RetryEvent } from '../../src/kube/index.ts';
import {
  retryAfterViolations,
  startFaultProxy,
  type Fault,
  type FaultProxy,
} from '../helpers/fault-proxy.ts';
import { uniqueSuffix } from '../helpers/testbed.ts';

function clientThrough(proxy: FaultProxy, events: RetryEvent[], slept: number[]) {
  return new KubeClient(proxy.kubeConfig, {
    retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 100 },
    onRetry: (event) => events.push(event),
    // Record the waits instead of sleeping them.
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  });
}

describe('retries against the API server', () => {
  it('waits as long as Retry-After says after 429, then gets the real answer', async (t) => {
    const proxy = await startFaultProxy((_req, i): Fault =>
      i < 2 ? { status: 429, retryAfterSeconds: 3 } : undefined,
    );
    t.after(() => proxy.close());
    const events: RetryEvent[] = [];
    const slept: number[] = [];
    const ns = await clientThrough(proxy, events, slept).json<{ metadata: { name: string } }>({
      path: '/api/v1/namespaces/default',
    });
    assert.equal(ns.metadata.name, 'default');
    assert.equal(proxy.seen.length, 3);
    assert.deepEqual(
      events.map((e) => [e.attempt, e.reason]),
      [
        [1, 'status 429'],
        [2, 'status 429'],
      ],
    );
    assert.ok(slept.filter((ms) => ms >= 3000).length === 2, `waits ${slept.join(', ')}`);
  });

  it("holds another request for a throttled path until the first one's Retry-After has passed", async (t) => {
    const proxy = await startFaultProxy((_req, i): Fault =>
      i === 0 ? { status: 429, retryAfterSeconds: 2 } : undefined,
    );
    t.after(() => proxy.close());
    // One try: the first request gives up with the 429; the second, a new request, still waits.
    const client = new KubeClient(proxy.kubeConfig, {
      retry: { attempts: 1, baseDelayMs: 10, maxDelayMs: 100 },
    });
    t.after(() => client.close());
    assert.equal((await client.send({ path: '/api/v1/namespaces/default' })).status, 429);
    assert.equal((await client.send({ path: '/api/v1/namespaces/default' })).status, 200);
    assert.equal((await client.send({ path: '/api/v1/namespaces/kube-system' })).status, 200);
    assert.deepEqual(retryAfterViolations(proxy.requests), []);
    assert.equal(proxy.requests.length, 3);
  });

  it('repeats a GET whose connection dropped', async (t) => {
    const proxy = await startFaultProxy((_req, i): Fault => (i === 0 ? 'reset' : undefined));
    t.after(() => proxy.close());
    const events: RetryEvent[] = [];
    const ns = await clientThrough(proxy, events, []).json<{ metadata: { name: string } }>({
      path: '/api/v1/namespaces/kube-system',
    });
    assert.equal(ns.metadata.name, 'kube-system');
    assert.equal(events.length, 1);
  });

  it('does not repeat a POST whose connection dropped: it may have been applied', async (t) => {
    const proxy = await startFaultProxy((req): Fault => (req.method === 'POST' ? 'reset' : undefined));
    t.after(() => proxy.close());
    const events: RetryEvent[] = [];
    const name = `never-${uniqueSuffix()}`;
    await assert.rejects(
      clientThrough(proxy, events, []).json({
        method: 'POST',
        path: '/api/v1/namespaces',
        body: { metadata: { name } },
      }),
      ClusterUnreachableError,
    );
    assert.deepEqual(events, []);
    assert.equal(proxy.seen.filter((s) => s.startsWith('POST')).length, 1);
  });

  it('gives up after the last attempt with the server error', async (t) => {
    const proxy = await startFaultProxy((): Fault => ({ status: 503 }));
    t.after(() => proxy.close());
    const events: RetryEvent[] = [];
    await assert.rejects(
      clientThrough(proxy, events, []).json({ path: '/api/v1/namespaces' }),
      (error: unknown) =>
        error instanceof KubeApiError && error.status === 503 && /injected by the test/.test(error.message),
    );
    assert.equal(proxy.seen.length, 4);
    assert.equal(events.length, 3);
  });
});
