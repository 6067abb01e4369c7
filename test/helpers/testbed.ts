// What the test runner's testbed exported, and helpers every integration test uses to stay in namespaces
// and buckets of its own.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { KubeClient, loadKubeConfig } from '../../src/kube/index.ts';

/** A variable the testbed exports; a missing one fails the test with the way to fix it. */
export function testbedEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts the testbed`);
  return value;
}

/** A client for cluster a (KUBECONFIG) or cluster b (KUBECONFIG_B). */
export function clusterClient(cluster: 'a' | 'b' = 'a'): KubeClient {
  const kubeconfig = testbedEnv(cluster === 'a' ? 'KUBECONFIG' : 'KUBECONFIG_B');
  return new KubeClient(loadKubeConfig({ kubeconfig, env: {} }));
}

/** A short random suffix for names of namespaces, buckets and objects. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** Creates a namespace for one test, deleted (without waiting) when the test ends. */
export async function testNamespace(t: TestContext, client: KubeClient, prefix = 't'): Promise<string> {
  const name = `${prefix}-${uniqueSuffix()}`;
  await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name } } });
  t.after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${name}` });
  });
  return name;
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}

/** Options for an S3 client (the AWS SDK's, or Cairn's S3Store) on the testbed's MinIO. */
export function minioOptions() {
  return {
    endpoint: testbedEnv('CAIRN_S3_ENDPOINT'),
    region: testbedEnv('AWS_REGION'),
    forcePathStyle: true,
    credentials: {
      accessKeyId: testbedEnv('AWS_ACCESS_KEY_ID'),
      secretAccessKey: testbedEnv('AWS_SECRET_ACCESS_KEY'),
    },
  };
}
