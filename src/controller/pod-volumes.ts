// Pod volume backups and restores in server mode: the server creates a PodVolumeBackup or PodVolumeRestore
// resource per volume, labelled with the pod's node, and waits for them; the node agent on that node
// (node-agent.ts) carries them out and writes their status. Repository passwords are Secrets in the
// server's namespace, one per repository.
import {
  POD_VOLUME_LABELS,
  type PodVolumeBackup,
  type PodVolumeRestore,
  type PodVolumePhase,
} from '../api/index.ts';
import { KubeApiError, type KubeObject } from '../kube/index.ts';
import {
  podVolumeRestoreRecord,
  type PodToFill,
  type PodVolumeBackupRunner,
  type RepositoryPasswords,
} from '../volumes/index.ts';
import { createResource, patchStatus, resourcePath, type ResourceWriter } from './resources.ts';
import { LABELS } from '../api/index.ts';

/** The label naming the node whose agent carries a pod volume resource out. */
export const NODE_LABEL = 'cairn.dev/node';
const TERMINAL: readonly (PodVolumePhase | undefined)[] = ['Completed', 'Failed'];
/** The start of the message of a volume failed for want of a node agent, followed by the node's name. */
export const NO_AGENT_MESSAGE = 'no node agent runs on node';

/** The Secret holding a repository's password. */
export const repositoryPasswordSecret = (location: string, namespace: string): string =>
  `cairn-repo-${location}-${namespace}`.slice(0, 253);
const PASSWORD_DATA = 'password';

/** Repository passwords as Secrets in the server's namespace, made on a repository's first backup. */
export function secretRepositoryPasswords(writer: ResourceWriter): RepositoryPasswords {
  const path = (name?: string) =>
    `/api/v1/namespaces/${writer.namespace}/secrets${name === undefined ? '' : `/${name}`}`;
  const get: RepositoryPasswords['get'] = async (location, namespace, options) => {
    try {
      const secret = await writer.client.json<{ data?: Record<string, string> }>({
        path: path(repositoryPasswordSecret(location, namespace)),
        signal: options?.signal,
      });
      const encoded = secret.data?.[PASSWORD_DATA];
      return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  };
  return {
    where: (location, namespace) =>
      `Secret ${writer.namespace}/${repositoryPasswordSecret(location, namespace)} (data "${PASSWORD_DATA}")`,
    get,
    replace: async (location, namespace, password, options) => {
      // One write: a reader sees the old password or the new one.
      await writer.client.json({
        method: 'PATCH',
        path: path(repositoryPasswordSecret(location, namespace)),
        contentType: 'application/merge-patch+json',
        signal: options?.signal,
        body: { data: { [PASSWORD_DATA]: Buffer.from(password).toString('base64') } },
      });
    },
    create: async (location, namespace, password, options) => {
      try {
        await writer.client.json({
          method: 'POST',
          path: path(),
          signal: options?.signal,
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: repositoryPasswordSecret(location, namespace),
              labels: { 'app.kubernetes.io/name': 'cairn', [LABELS.location]: location },
              annotations: { 'cairn.dev/repository': `restic/${namespace}/` },
            },
            type: 'Opaque',
            data: { [PASSWORD_DATA]: Buffer.from(password).toString('base64') },
          },
        });
        return password;
      } catch (error) {
        // Another node agent made it first: use that one.
        if (!(error instanceof KubeApiError && error.status === 409)) throw error;
        return (await get(location, namespace, options)) ?? password;
      }
    },
  };
}

export interface ClusterRunnerOptions {
  writer: ResourceWriter;
  /** The resource the pod volume resources belong to (deleted with it). */
  owner: { kind: 'Backup' | 'Restore'; name: string; uid: string };
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How often the resources are looked at. Default 1 s. */
  pollMs?: number | undefined;
  /** Whether a node agent runs on the node (its Lease is fresh); volumes on a node without one fail at once. */
  agentRuns: (node: string, signal?: AbortSignal) => Promise<boolean>;
}

function ownerReference(owner: ClusterRunnerOptions['owner']) {
  return [
    { apiVersion: 'cairn.dev/v1', kind: owner.kind, name: owner.name, uid: owner.uid, controller: true },
  ];
}

/** Lists the pod volume resources with a label, by name. */
async function listByLabel<T extends KubeObject>(
  writer: ResourceWriter,
  kind: 'PodVolumeBackup' | 'PodVolumeRestore',
  selector: string,
  signal: AbortSignal | undefined,
): Promise<Map<string, T>> {
  const list = await writer.client.json<{ items: T[] }>({
    path: resourcePath(kind, writer.namespace),
    query: { labelSelector: selector },
    signal,
  });
  return new Map(list.items.map((item) => [item.metadata.name, item]));
}

/**
 * Waits until every resource named is Completed or Failed, reporting progress; resolves with their last
 * state (on an abort: those not done marked Failed with the reason).
 */
async function waitForAll<T extends PodVolumeBackup | PodVolumeRestore>(
  options: ClusterRunnerOptions,
  kind: 'PodVolumeBackup' | 'PodVolumeRestore',
  created: T[],
  selector: string,
  signal: AbortSignal | undefined,
  onProgress?: (done: number) => void,
): Promise<T[]> {
  let latest = new Map(created.map((item) => [item.metadata.name, item]));
  for (;;) {
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      const why = reason instanceof Error ? reason.message : String(reason);
      return created.map((item) => {
        const last = latest.get(item.metadata.name) ?? item;
        return TERMINAL.includes(last.status?.phase)
          ? last
          : {
              ...last,
              status: { ...last.status, phase: 'Failed', message: `stopped before it ended: ${why}` },
            };
      });
    }
    try {
      const listed = await listByLabel<T>(options.writer, kind, selector, signal);
      latest = new Map(created.map((item) => [item.metadata.name, listed.get(item.metadata.name) ?? item]));
    } catch (error) {
      if (!signal?.aborted) throw error;
      continue;
    }
    const done = [...latest.values()].filter((item) => TERMINAL.includes(item.status?.phase)).length;
    onProgress?.(done);
    if (done === created.length) return created.map((item) => latest.get(item.metadata.name) ?? item);
    await failWithoutAgent(options, kind, [...latest.values()], signal);
    await options.sleep(options.pollMs ?? 1000, signal).catch(() => undefined);
  }
}

/**
 * Marks Failed, with the reason, the resources not done whose node no longer has an agent (its Lease went
 * stale: the agent was killed and none came back, or the node is gone). An agent that comes back marks
 * what it left InProgress itself (node-agent.ts); without this, the backup or restore would wait for one
 * for ever. The write is guarded by the version read: an outcome written meanwhile wins.
 */
async function failWithoutAgent(
  options: ClusterRunnerOptions,
  kind: 'PodVolumeBackup' | 'PodVolumeRestore',
  items: (PodVolumeBackup | PodVolumeRestore)[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const agents = new Map<string, boolean>();
  for (const item of items) {
    const node = item.metadata.labels?.[NODE_LABEL];
    if (TERMINAL.includes(item.status?.phase) || !node || !item.metadata.resourceVersion) continue;
    if (!agents.has(node)) {
      try {
        agents.set(node, await options.agentRuns(node, signal));
      } catch {
        // The API server failed the read: no verdict; asked again on the next round.
        agents.set(node, true);
      }
    }
    if (agents.get(node)) continue;
    await patchStatus(
      options.writer,
      kind,
      item.metadata.name,
      { phase: 'Failed', message: `${NO_AGENT_MESSAGE} ${node} any more (it stopped, and none came back)` },
      { resourceVersion: item.metadata.resourceVersion, signal },
    ).catch(() => undefined); // looked at again on the next round
  }
}

/** The backup's pod volume backups as resources for the node agents, waited for. */
export class ClusterPodVolumeBackups implements PodVolumeBackupRunner {
  readonly description = 'the node agents (PodVolumeBackup resources)';
  readonly #options: ClusterRunnerOptions;

  constructor(options: ClusterRunnerOptions) {
    this.#options = options;
  }

  async run(
    backups: readonly PodVolumeBackup[],
    options: Parameters<PodVolumeBackupRunner['run']>[1],
  ): Promise<PodVolumeBackup[]> {
    const { writer, owner } = this.#options;
    const created: PodVolumeBackup[] = [];
    const failed: PodVolumeBackup[] = [];
    const agents = new Map<string, boolean>();
    for (const backup of backups) {
      const node = backup.spec.node;
      if (!agents.has(node)) agents.set(node, await this.#options.agentRuns(node, options.signal));
      if (!agents.get(node)) {
        failed.push({
          ...backup,
          status: { phase: 'Failed', message: `${NO_AGENT_MESSAGE} ${node}` },
        });
        continue;
      }
      const object = {
        metadata: {
          name: backup.metadata.name,
          labels: { ...backup.metadata.labels, [NODE_LABEL]: backup.spec.node },
          ownerReferences: ownerReference(owner),
        },
        spec: backup.spec,
      };
      const made = await createResource<PodVolumeBackup>(writer, 'PodVolumeBackup', object, options.signal);
      created.push(made ?? { ...backup, metadata: { ...backup.metadata, ...object.metadata } });
    }
    const done = await waitForAll(
      this.#options,
      'PodVolumeBackup',
      created,
      `${POD_VOLUME_LABELS.backupUid}=${owner.uid}`,
      options.signal,
      (count) =>
        options.onProgress?.({ volumesDone: count + failed.length, volumes: backups.length, bytesDone: 0 }),
    );
    return [...done, ...failed];
  }
}

interface PodNode {
  spec?: { nodeName?: string };
}

/**
 * Fills restored pods' volumes through the node agents: once a pod is scheduled, a PodVolumeRestore per
 * volume, labelled with its node, waited for.
 */
export function clusterPodVolumeFill(
  options: ClusterRunnerOptions & {
    podTimeoutMs: number;
    now: () => number;
    signal?: AbortSignal | undefined;
  },
) {
  return async (pods: PodToFill[], restore: { name: string; uid: string }): Promise<PodVolumeRestore[]> => {
    const { writer, signal } = options;
    const created: PodVolumeRestore[] = [];
    const failed: PodVolumeRestore[] = [];
    for (const pod of pods) {
      const deadline = options.now() + options.podTimeoutMs;
      let node: string | undefined;
      while (!node && options.now() < deadline && !signal?.aborted) {
        const state = await writer.client.json<PodNode>({
          path: `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`,
          signal,
        });
        node = state.spec?.nodeName;
        if (!node) await options.sleep(1000, signal).catch(() => undefined);
      }
      for (const backup of pod.volumes) {
        const fresh = podVolumeRestoreRecord({ ...restore, backupName: backup.spec.backupName }, pod, backup);
        const { status: _new, ...record } = {
          ...fresh,
          metadata: {
            ...fresh.metadata,
            labels: { ...fresh.metadata.labels, ...(node ? { [NODE_LABEL]: node } : {}) },
            ownerReferences: ownerReference(options.owner),
          },
        };
        if (!node || !(await options.agentRuns(node, signal))) {
          const message = node
            ? `${NO_AGENT_MESSAGE} ${node}`
            : 'the pod was not scheduled to a node in time';
          failed.push({ ...record, status: { phase: 'Failed', message } });
          continue;
        }
        const made = await createResource<PodVolumeRestore>(writer, 'PodVolumeRestore', record, signal);
        created.push(made ?? record);
      }
    }
    const done = await waitForAll(
      options,
      'PodVolumeRestore',
      created,
      `${POD_VOLUME_LABELS.restoreUid}=${restore.uid}`,
      signal,
    );
    return [...done, ...failed];
  };
}
