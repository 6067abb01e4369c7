// The floor of the restore benchmark: `restore-floor.ts <archive.tar.gz> --concurrency 16 --client-qps 100
// --client-burst 200` reads every item of a plaintext backup archive (`cairn backup download`) into memory
// before its clock starts, then creates them in the current cluster ($KUBECONFIG) with Cairn's own client
// and rate limiter at those limits, at most `concurrency` requests at a time: the namespaces first, then
// every other object, each stripped of what the source cluster assigned, as a restore strips it. Nothing
// else: no discovery, no existence checks, no resource ordering, no records. Prints one JSON line.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient, loadKubeConfig, type KubeObject } from '../src/kube/index.ts';
import { extractBackup } from '../src/restore/index.ts';

const args = process.argv.slice(2);
const archive = args[0];
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : NaN;
  if (!(value >= 1)) throw new Error(`--${name} <n> is needed`);
  return value;
};
if (!archive || archive.startsWith('--')) throw new Error('usage: restore-floor.ts <archive.tar.gz> ...');
const concurrency = flag('concurrency');
const client = new KubeClient(loadKubeConfig({ env: process.env }), {
  qps: flag('client-qps'),
  burst: flag('client-burst'),
});

interface Item {
  groupResource: string;
  version: string;
  namespace?: string;
  object: KubeObject;
}

// Read before the clock starts: the restore's own reading of the archive is part of what it is measured on.
const readStarted = performance.now();
const namespaces: Item[] = [];
const others: Item[] = [];
const dir = await mkdtemp(join(tmpdir(), 'cairn-restore-floor-'));
try {
  const contents = await extractBackup(createReadStream(archive), { dir });
  for (const [groupResource, resource] of contents.resources) {
    for await (const item of contents.items(groupResource, resource.preferredVersion)) {
      const entry: Item = {
        groupResource,
        version: item.version,
        ...(item.namespace !== undefined ? { namespace: item.namespace } : {}),
        object: item.object,
      };
      (groupResource === 'namespaces' ? namespaces : others).push(entry);
    }
  }
  await contents.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
const readSeconds = (performance.now() - readStarted) / 1000;

/** What a restore removes before creating an object: what the source cluster assigned. */
function stripped(item: Item): KubeObject {
  const { status: _status, ...object } = item.object;
  const {
    uid: _uid,
    resourceVersion: _resourceVersion,
    creationTimestamp: _creationTimestamp,
    managedFields: _managedFields,
    generation: _generation,
    ownerReferences: _ownerReferences,
    ...metadata
  } = object.metadata;
  const body: KubeObject = { ...object, metadata };
  if (item.groupResource === 'services') {
    const spec = { ...(body.spec as Record<string, unknown>) };
    if (spec.clusterIP !== 'None') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    body.spec = spec;
  }
  return body;
}

function collection(item: Item): string {
  const dot = item.groupResource.indexOf('.');
  const resource = dot < 0 ? item.groupResource : item.groupResource.slice(0, dot);
  const base =
    dot < 0 ? `/api/${item.version}` : `/apis/${item.groupResource.slice(dot + 1)}/${item.version}`;
  return item.namespace === undefined
    ? `${base}/${resource}`
    : `${base}/namespaces/${encodeURIComponent(item.namespace)}/${resource}`;
}

let created = 0;
let failed = 0;
let firstFailure: string | undefined;
async function createAll(items: Item[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as Item;
      const path = collection(item);
      const res = await client.send({ method: 'POST', path, body: stripped(item) });
      if (res.status === 201) created += 1;
      else {
        failed += 1;
        firstFailure ??= `${path} ${item.object.metadata.name}: ${res.status} ${res.body.toString().slice(0, 200)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const started = performance.now();
await createAll(namespaces);
await createAll(others);
const seconds = (performance.now() - started) / 1000;
client.close();
process.stdout.write(
  JSON.stringify({
    created,
    failed,
    ...(firstFailure ? { firstFailure } : {}),
    namespaces: namespaces.length,
    objects: others.length,
    readSeconds,
    seconds,
  }) + '\n',
);
