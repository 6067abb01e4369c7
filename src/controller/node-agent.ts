// The node agent: one per node (a DaemonSet in a cluster, a host process beside the testbed's node). It
// carries out the PodVolumeBackups and PodVolumeRestores labelled with its node: it takes one by moving
// it from New to InProgress (a write guarded by the resourceVersion, so two agents never take the same),
// reads or writes the volume where the kubelet mounts it, and records the outcome in its status. It
// announces itself with a Lease, `cairn-node-agent-<node>`, renewed every few seconds: the server fails a
// volume at once, with the reason, when no agent runs on its node.
import type { BackupLocation, PodVolumeBackup, PodVolumeRestore } from '../api/index.ts';
import type { KubeClient } from '../kube/index.ts';
import {
  backUpPodVolume,
  fillPodVolumes,
  VolumeRepositories,
  type RepositoryPasswords,
} from '../volumes/index.ts';
import { KubeLeaseStore, LeaseConflictError } from './lease-store.ts';
import { ServerLocations } from './locations.ts';
import { NODE_LABEL, secretRepositoryPasswords } from './pod-volumes.ts';
import { patchStatus, resourcePath, type ResourceWriter } from './resources.ts';
import { LABELS } from '../api/index.ts';

/** The Lease a node agent renews. */
export const nodeAgentLease = (node: string): string => `cairn-node-agent-${node}`.slice(0, 253);
/** How often the agent renews its lease; the server takes a lease older than 4 renewals as no agent. */
export const NODE_AGENT_RENEW_MS = 5_000;
export const NODE_AGENT_STALE_MS = 4 * NODE_AGENT_RENEW_MS;
/** Why a volume's backup or restore failed when the agent carrying it out stopped midway. */
export const AGENT_ORPHAN_MESSAGE = 'the node agent stopped while it ran this volume (it is not resumed)';

export interface NodeAgentOptions {
  client: KubeClient;
  /** The server's namespace: its resources, Secrets and BackupLocations. */
  namespace: string;
  node: string;
  kubeletRoot: string;
  /** Volumes carried out at once. Default 2. */
  concurrency?: number | undefined;
  /** How often new work is looked for. Default 1 s. */
  pollMs?: number | undefined;
  now: () => Date;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: (entry: { level: 'info' | 'warning' | 'error'; message: string }) => void;
  signal: AbortSignal;
}

interface Work {
  kind: 'PodVolumeBackup' | 'PodVolumeRestore';
  object: PodVolumeBackup | PodVolumeRestore;
}

/** Runs until the signal aborts. */
export async function runNodeAgent(options: NodeAgentOptions): Promise<void> {
  const { client, namespace, node, signal } = options;
  const writer: ResourceWriter = { client, namespace };
  const passwords = secretRepositoryPasswords(writer);
  const repositories = new Map<string, Promise<VolumeRepositories>>();
  const running = new Set<string>();
  const tasks = new Set<Promise<void>>();
  const heartbeat = keepLease(options);
  options.log({ level: 'info', message: `node agent on node ${node}, kubelet root ${options.kubeletRoot}` });
  try {
    await failLeftovers(options, writer);
    while (!signal.aborted) {
      try {
        for (const work of await newWork(writer, node, signal)) {
          const key = `${work.kind}/${work.object.metadata.name}`;
          if (running.has(key) || running.size >= (options.concurrency ?? 2)) continue;
          running.add(key);
          const task = carryOut(options, writer, work, (location) =>
            repositoriesOf(options, writer, passwords, repositories, location),
          )
            .catch((error: unknown) =>
              options.log({ level: 'error', message: `${key}: ${(error as Error).message}` }),
            )
            .finally(() => {
              running.delete(key);
              tasks.delete(task);
            });
          tasks.add(task);
        }
      } catch (error) {
        if (!signal.aborted)
          options.log({ level: 'warning', message: `listing work failed: ${(error as Error).message}` });
      }
      await options.sleep(options.pollMs ?? 1000, signal).catch(() => undefined);
    }
  } finally {
    await Promise.allSettled(tasks);
    await heartbeat;
    for (const opening of repositories.values()) await (await opening.catch(() => undefined))?.close();
  }
}

async function newWork(writer: ResourceWriter, node: string, signal: AbortSignal): Promise<Work[]> {
  const work: Work[] = [];
  for (const kind of ['PodVolumeBackup', 'PodVolumeRestore'] as const) {
    const list = await writer.client.json<{ items: (PodVolumeBackup | PodVolumeRestore)[] }>({
      path: resourcePath(kind, writer.namespace),
      query: { labelSelector: `${NODE_LABEL}=${node}` },
      signal,
    });
    for (const object of list.items)
      if ((object.status?.phase ?? 'New') === 'New') work.push({ kind, object });
  }
  return work;
}

/**
 * Marks Failed, with the reason, the work of this node left InProgress: one agent runs per node (a
 * DaemonSet replaces its pod only once the old one is gone), so it was taken by an agent that was killed
 * before it wrote the outcome. Left so, the server would wait for it for ever. It is not resumed: a
 * volume backup is one point in time, and what the killed agent uploaded is unreferenced data that the
 * repository's maintenance prunes.
 */
async function failLeftovers(options: NodeAgentOptions, writer: ResourceWriter): Promise<void> {
  for (const kind of ['PodVolumeBackup', 'PodVolumeRestore'] as const) {
    let list: { items: (PodVolumeBackup | PodVolumeRestore)[] };
    try {
      list = await writer.client.json({
        path: resourcePath(kind, writer.namespace),
        query: { labelSelector: `${NODE_LABEL}=${options.node}` },
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal.aborted) return;
      // Not fatal: new work must still be taken; the next start tries again.
      options.log({
        level: 'warning',
        message: `cannot list the ${kind}s left InProgress: ${(error as Error).message}`,
      });
      continue;
    }
    for (const object of list.items) {
      if (object.status?.phase !== 'InProgress') continue;
      const name = object.metadata.name;
      options.log({ level: 'warning', message: `${kind} ${name} was left InProgress: marking it Failed` });
      await patchStatus(
        writer,
        kind,
        name,
        {
          phase: 'Failed',
          message: `${AGENT_ORPHAN_MESSAGE}: taken on node ${object.status.node ?? options.node} at ${object.status.startTimestamp ?? '<unknown>'}`,
          completionTimestamp: options.now().toISOString(),
        },
        // Only the version read: a write meanwhile (the outcome, after all) wins.
        { resourceVersion: object.metadata.resourceVersion, signal: options.signal },
      ).catch((error: unknown) =>
        options.log({
          level: 'warning',
          message: `cannot mark ${kind} ${name} Failed: ${(error as Error).message}`,
        }),
      );
    }
  }
}

/** The repositories of a location, opened once (the location's store with its credentials). */
async function repositoriesOf(
  options: NodeAgentOptions,
  writer: ResourceWriter,
  passwords: RepositoryPasswords,
  cache: Map<string, Promise<VolumeRepositories>>,
  location: string,
): Promise<VolumeRepositories> {
  let opening = cache.get(location);
  if (!opening) {
    opening = (async () => {
      const list = await writer.client.json<{ items: BackupLocation[] }>({
        path: resourcePath('BackupLocation', writer.namespace),
        signal: options.signal,
      });
      const locations = new ServerLocations({
        client: writer.client,
        namespace: writer.namespace,
        list: () => list.items,
      });
      const store = await locations.open(location, {
        createKey: false,
        withoutKey: true,
        signal: options.signal,
      });
      return new VolumeRepositories({
        location,
        store: store.store,
        passwords,
        repository: { logger: { warn: (message) => options.log({ level: 'warning', message }) } },
      });
    })();
    cache.set(location, opening);
    opening.catch(() => cache.delete(location));
  }
  return opening;
}

async function carryOut(
  options: NodeAgentOptions,
  writer: ResourceWriter,
  work: Work,
  repositories: (location: string) => Promise<VolumeRepositories>,
): Promise<void> {
  const { object, kind } = work;
  const name = object.metadata.name;
  const taken = await patchStatus(
    writer,
    kind,
    name,
    { phase: 'InProgress', node: options.node, startTimestamp: options.now().toISOString() },
    { resourceVersion: object.metadata.resourceVersion, signal: options.signal },
  );
  if (!taken) return; // another agent took it, or it changed: looked at again on the next round
  options.log({ level: 'info', message: `${kind} ${name}: started` });
  let status: { phase: string; message?: string | undefined; [field: string]: unknown };
  try {
    const repos = await repositories(object.spec.location);
    if (kind === 'PodVolumeBackup') {
      const backup = object as PodVolumeBackup;
      const repo = await repos.repository(backup.spec.repository, { create: true, signal: options.signal });
      let last = 0;
      const result = await backUpPodVolume({
        repo,
        backup,
        kubeletRoot: options.kubeletRoot,
        node: options.node,
        now: options.now,
        signal: options.signal,
        onProgress: (progress) => {
          const now = options.now().getTime();
          if (now - last < 5_000) return;
          last = now;
          void patchStatus(writer, kind, name, { progress }, { signal: options.signal }).catch(
            () => undefined,
          );
        },
      });
      status = { ...result, phase: result.phase ?? 'Failed' };
    } else {
      const restore = object as PodVolumeRestore;
      const [filled] = await fillPodVolumes({
        client: writer.client,
        pods: [
          {
            namespace: restore.spec.pod.namespace,
            name: restore.spec.pod.name,
            volumes: [
              {
                apiVersion: 'cairn.dev/v1',
                kind: 'PodVolumeBackup',
                metadata: { name: restore.metadata.name },
                spec: {
                  backupName: restore.spec.backupName,
                  node: options.node,
                  pod: restore.spec.pod,
                  volume: restore.spec.volume,
                  volumeDir: '',
                  location: restore.spec.location,
                  repository: restore.spec.repository,
                },
                status: { phase: 'Completed', snapshotID: restore.spec.snapshotID },
              },
            ],
          },
        ],
        restoreName: restore.spec.restoreName,
        restoreUid: restore.metadata.labels?.[LABELS.restoreUid] ?? '',
        backupName: restore.spec.backupName,
        repositories: repos,
        kubeletRoot: options.kubeletRoot,
        node: options.node,
        now: options.now,
        sleep: options.sleep,
        podTimeoutMs: 10 * 60_000,
        signal: options.signal,
      });
      status = { ...filled?.status, phase: filled?.status?.phase ?? 'Failed' };
    }
  } catch (error) {
    status = {
      phase: 'Failed',
      message: (error as Error).message,
      completionTimestamp: options.now().toISOString(),
    };
  }
  await patchStatus(writer, kind, name, status, { signal: AbortSignal.timeout(10_000) });
  options.log({
    level: status.phase === 'Completed' ? 'info' : 'error',
    message: `${kind} ${name}: ${status.phase}${status.message ? `: ${status.message}` : ''}`,
  });
}

/** Renews the agent's Lease until the signal aborts. */
async function keepLease(options: NodeAgentOptions): Promise<void> {
  const store = new KubeLeaseStore(options.client, options.namespace, nodeAgentLease(options.node));
  const signal = options.signal;
  while (!signal.aborted) {
    const spec = {
      holderIdentity: options.node,
      leaseDurationSeconds: NODE_AGENT_STALE_MS / 1000,
      renewTime: options.now().toISOString().replace('Z', '000Z'),
    };
    try {
      const lease = await store.get(signal);
      if (lease) await store.update(lease.resourceVersion, { ...lease.spec, ...spec }, signal);
      else await store.create(spec, signal);
    } catch (error) {
      if (!signal.aborted && !(error instanceof LeaseConflictError))
        options.log({
          level: 'warning',
          message: `renewing lease ${nodeAgentLease(options.node)}: ${(error as Error).message}`,
        });
    }
    await options.sleep(NODE_AGENT_RENEW_MS, signal).catch(() => undefined);
  }
}

/** Whether a node agent runs on `node`: its Lease was renewed recently. */
export async function nodeAgentRuns(
  client: KubeClient,
  namespace: string,
  node: string,
  now: () => number,
  signal?: AbortSignal,
): Promise<boolean> {
  const lease = await new KubeLeaseStore(client, namespace, nodeAgentLease(node)).get(
    signal ?? AbortSignal.timeout(10_000),
  );
  const renewed = lease?.spec.renewTime ? Date.parse(lease.spec.renewTime) : Number.NaN;
  return Number.isFinite(renewed) && now() - renewed < NODE_AGENT_STALE_MS;
}
