// The server outlives its API server: a leader whose requests fail longer than the renew deadline (as
// during a control-plane upgrade) stops leading, stays up, campaigns again, and leads and works again once
// the API server answers. The outage is a fault-injecting proxy in front of the testbed's API server.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backup } from '../../src/api/index.ts';
import { resourcePath } from '../../src/controller/index.ts';
import { KubeClient } from '../../src/kube/index.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { createCr, installCrds, startServer, type RunningServer } from '../helpers/server.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let admin: KubeClient;
let proxy: FaultProxy;
let through: KubeClient;
let server: RunningServer;
let namespace: string;
let dir: string;
let down = false;

describe('cairn server across an API server outage', () => {
  before(async () => {
    admin = clusterClient('a');
    await installCrds(admin);
    namespace = `cairn-${uniqueSuffix()}`;
    await admin.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: namespace } } });
    dir = await mkdtemp(join(tmpdir(), 'cairn-outage-'));
    await createCr(admin, namespace, 'BackupLocation', 'local', {
      provider: 'fs',
      config: { path: join(dir, 'local') },
      default: true,
    });
    proxy = await startFaultProxy(() => (down ? 'reset' : undefined));
    // Few tries per request, so that the outage shows within the renew deadline.
    through = new KubeClient(proxy.kubeConfig, { retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 } });
    server = await startServer({ client: through, namespace, identity: 'outlives' });
  });

  after(async () => {
    down = false;
    await server.stop();
    through.close();
    await proxy.close();
    await admin.send({ method: 'DELETE', path: `/api/v1/namespaces/${namespace}` });
    await rm(dir, { recursive: true, force: true });
  });

  it('stops leading while the API server is away, stays up, and leads and backs up again after', async () => {
    const ready = async () => (await server.get('/readyz')).status === 200;
    await eventually('the server to lead', async () => ((await ready()) ? true : undefined));
    down = true;
    await eventually('the server to stop leading', async () => ((await ready()) ? undefined : true));
    assert.equal((await server.get('/healthz')).status, 200, 'the process is still up');
    down = false;
    await eventually('the server to lead again', async () => ((await ready()) ? true : undefined));
    assert.ok(
      server.logs.some((l) =>
        l.includes('outlives lost the lease (the API server did not answer in time); campaigning again'),
      ),
      server.logs.join('\n'),
    );
    await createCr(admin, namespace, 'Backup', 'after', { includedNamespaces: [namespace] });
    const backup = await eventually('the backup to finish', async () => {
      const b = await admin.json<Backup>({ path: resourcePath('Backup', namespace, 'after') });
      return ['Completed', 'PartiallyFailed', 'Failed'].includes(b.status?.phase ?? '') ? b : undefined;
    });
    assert.equal(backup.status?.phase, 'Completed', JSON.stringify(backup.status));
  });
});
