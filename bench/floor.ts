// The floor of the backup benchmark: page-list every listable resource of the cluster at one revision with
// Cairn's own client (same page size, rate limit and TLS as a backup), doing nothing with the items.
import { currentRevision, discover, KubeClient, listPages, loadKubeConfig } from '../src/kube/index.ts';

const client = new KubeClient(loadKubeConfig({ env: process.env }));
const started = performance.now();
const revision = await currentRevision(client);
let items = 0;
for (const resource of (await discover(client)).resources) {
  if (!resource.preferred || !resource.verbs.includes('list') || !resource.verbs.includes('get')) continue;
  if (['events', 'events.events.k8s.io', 'nodes'].includes(resource.groupResource)) continue;
  for await (const page of listPages(client, resource, { resourceVersion: revision }))
    items += page.items.length;
}
process.stdout.write(JSON.stringify({ items, seconds: (performance.now() - started) / 1000 }) + '\n');
