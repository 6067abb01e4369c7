// Two `cairn server` processes on one namespace: one leads, one stands by. The leader is killed with
// SIGKILL in the middle of a backup (its client held to a few requests a second so the backup lasts): the
// standby takes the lease once it expires, marks the backup Failed with the reason (never stuck
// InProgress), and goes on with new work.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import { ORPHAN_REASON } from '../../src/controller/index.ts';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { leads, startServerProcess, type ServerProcess } from '../helpers/server-process.ts';
import { createCr, getCr, installCrds } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

const LEASE_SECONDS = 4;

function startServer(namespace: string, identity: string, qps: number): ServerProcess {
  return startServerProcess(namespace, identity, [
    '--client-qps',
    String(qps),
    '--client-burst',
    '1',
    '--lease-duration',
    `${LEASE_SECONDS}s`,
    '--renew-deadline',
    '3s',
    '--retry-period',
    '500ms',
  ]);
}

interface Lease extends KubeObject {
  spec: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

let client: KubeClient;
let namespace: string;
let dir: string;
const servers: ServerProcess[] = [];

describe('cairn server failover', () => {
  before(async () => {
    client = clusterClient('a');
    await installCrds(client);
    namespace = `cairn-ha-${uniqueSuffix()}`;
    await client.json({
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace } },
    });
    dir = await mkdtemp(join(tmpdir(), 'cairn-ha-'));
    await createCr(client, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
  });

  after(async () => {
    for (const server of servers) server.child.kill('SIGKILL');
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the backup the killed leader was running, and the standby takes over within the lease', async () => {
    // The leader's client is slow (5 requests/s): a backup of the whole cluster takes many seconds.
    const first = startServer(namespace, 'first', 5);
    servers.push(first);
    await eventually('first to lead', async () => ((await leads(first)) ? true : undefined));
    const second = startServer(namespace, 'second', 50);
    servers.push(second);
    await second.port;
    assert.equal(await leads(second), false, 'the second replica stands by');

    await createCr(client, namespace, 'Backup', 'everything', {});
    await eventually('the backup to start', async () =>
      (await getCr<Backup>(client, namespace, 'Backup', 'everything'))?.status?.phase === 'InProgress'
        ? true
        : undefined,
    );
    const before = await client.json<Lease>({
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/cairn-server`,
    });
    assert.equal(before.spec.holderIdentity, 'first');
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed, not exited');

    const backup = await eventually(
      'the orphaned backup to be marked Failed',
      async () => {
        const b = await getCr<Backup>(client, namespace, 'Backup', 'everything');
        return b?.status?.phase === 'Failed' ? b : undefined;
      },
      60_000,
    );
    assert.equal(backup.status?.failureReason, ORPHAN_REASON);
    assert.ok(await leads(second), 'the standby leads');
    const after = await client.json<Lease>({
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/cairn-server`,
    });
    assert.equal(after.spec.holderIdentity, 'second');
    // The takeover, as the lease records it: not before the dead leader's lease expired (how soon after
    // is leader election's timing, tested on an injected clock in test/unit/leader-election.test.ts).
    const gapMs = Date.parse(after.spec.acquireTime ?? '') - Date.parse(before.spec.renewTime ?? '');
    assert.ok(
      gapMs >= LEASE_SECONDS * 1000 - 1000,
      `taken over ${gapMs} ms after the last renewal: too early`,
    );
    assert.ok(
      !(second.stderr().includes('error') && second.stderr().includes('everything')),
      second.stderr(),
    );

    // The new leader works: a new backup completes.
    await createCr(client, namespace, 'Backup', 'after', {
      includedNamespaces: [namespace],
      includedResources: ['configmaps'],
    });
    const next = await eventually('the next backup', async () => {
      const b = await getCr<Backup>(client, namespace, 'Backup', 'after');
      return b?.status?.phase && b.status.phase !== 'InProgress' ? b : undefined;
    });
    assert.equal(next.status?.phase, 'Completed', second.stderr());
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
