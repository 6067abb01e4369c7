// What several benchmarks set up the same way: a Cairn config whose default location is a MinIO bucket,
// and a target cluster emptied of a benchmark's namespaces.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient, loadKubeConfig, type KubeList } from '../src/kube/index.ts';

/** A testbed variable; a missing one says how to start the testbed. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: eval "$(npm run -s testbed -- up)" first`);
  return value;
}

/**
 * Writes `<work>/config/cairn/config.yaml` with one location, `minio`, the default, on `bucket` of the
 * testbed's MinIO (encrypted, as by default), and its credentials file. Returns the XDG variables that
 * point `cairn` at it.
 */
export async function minioConfig(work: string, bucket: string): Promise<Record<string, string>> {
  const config = join(work, 'config', 'cairn');
  await mkdir(config, { recursive: true });
  await writeFile(
    join(work, 'credentials'),
    `[default]\naws_access_key_id=${env('AWS_ACCESS_KEY_ID')}\naws_secret_access_key=${env('AWS_SECRET_ACCESS_KEY')}\n`,
  );
  await writeFile(
    join(config, 'config.yaml'),
    [
      'locations:',
      '  - name: minio',
      `    credentialsFile: ${join(work, 'credentials')}`,
      '    spec:',
      '      provider: s3',
      '      default: true',
      `      objectStorage: { bucket: ${bucket} }`,
      `      config: { region: us-east-1, s3Url: "${env('CAIRN_S3_ENDPOINT')}", s3ForcePathStyle: "true" }`,
      '',
    ].join('\n'),
  );
  return { XDG_CONFIG_HOME: join(work, 'config'), XDG_DATA_HOME: join(work, 'data') };
}

/**
 * Deletes the namespaces named `<prefix>...` from the cluster of `kubeconfig` and waits until they are gone
 * (at most 15 minutes), then 10 s more for the API server, etcd and the controllers to settle.
 */
export async function emptyTarget(kubeconfig: string, prefix: string): Promise<void> {
  const client = new KubeClient(loadKubeConfig({ env: { ...process.env, KUBECONFIG: kubeconfig } }), {
    qps: 0,
    burst: 1000,
  });
  const started = performance.now();
  const ours = async () =>
    (await client.json<KubeList>({ path: '/api/v1/namespaces' })).items
      .map((ns) => ns.metadata.name)
      .filter((name) => name.startsWith(prefix));
  const present = await ours();
  await Promise.all(
    present.map((name) => client.send({ method: 'DELETE', path: `/api/v1/namespaces/${name}` })),
  );
  for (let left = present; left.length > 0; left = await ours()) {
    if (performance.now() - started > 900_000)
      throw new Error(`${kubeconfig}: ${left.length} namespaces still there after 15 minutes`);
    await sleep(1000);
  }
  client.close();
  if (present.length > 0) {
    console.log(
      `target: ${present.length} namespaces deleted in ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
    await sleep(10_000);
  }
}
