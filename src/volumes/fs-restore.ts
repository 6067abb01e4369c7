// File-system restore of pod volumes: a restored pod whose backup holds its volumes' files gets the
// restore-wait init container (restore-wait.ts); once the pod is on its node with its volumes mounted, the
// node agent (or this process, with `--node-agent local`) writes each volume's snapshot into the volume's
// directory and then the marker that lets the init container end. Each volume gets a PodVolumeRestore
// record: Completed, or Failed with the reason.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  API_GROUP,
  API_VERSION,
  POD_VOLUME_LABELS,
  type PodVolumeBackup,
  type PodVolumeRestore,
  type PodVolumeRestoreStatus,
} from '../api/index.ts';
import type { KubeClient } from '../kube/index.ts';
import { restoreSnapshot } from '../repo/index.ts';
import { volumeOfClaim } from './fs-backup.ts';
import { findVolumePath } from './host-path.ts';
import type { VolumeRepositories } from './repositories.ts';
import { MARKER_DIR, markerPath, RESTORE_WAIT_CONTAINER } from './restore-wait.ts';
import { volumeDirOf, type PodVolumeSource } from './selection.ts';

/** The volumes of a backup that can be restored: its Completed pod volume backups, by source pod. */
export class BackedUpVolumes {
  readonly #byPod = new Map<string, PodVolumeBackup[]>();

  constructor(records: readonly PodVolumeBackup[]) {
    for (const record of records) {
      if (record.status?.phase !== 'Completed' || !record.status.snapshotID) continue;
      const key = `${record.spec.pod.namespace}/${record.spec.pod.name}`;
      this.#byPod.set(key, [...(this.#byPod.get(key) ?? []), record]);
    }
  }

  get size(): number {
    return this.#byPod.size;
  }

  /** The pod's backed-up volumes (by the pod's namespace and name in the backup); empty when none. */
  of(namespace: string, pod: string): PodVolumeBackup[] {
    return this.#byPod.get(`${namespace}/${pod}`) ?? [];
  }
}

/** A restored pod whose volumes are to be filled. */
export interface PodToFill {
  /** Where the pod was restored. */
  namespace: string;
  name: string;
  /** Its volumes' backups (their snapshots, and the namespace whose repository holds them). */
  volumes: PodVolumeBackup[];
}

export interface FillPodVolumesInput {
  client: KubeClient;
  pods: readonly PodToFill[];
  restoreName: string;
  restoreUid: string;
  backupName: string;
  repositories: VolumeRepositories;
  kubeletRoot: string;
  /** This node's name: pods on another node fail with the reason. */
  node: string;
  now: () => Date;
  /** Waits between looks at a pod. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How long a pod may take to reach its restore-wait container. */
  podTimeoutMs: number;
  log?: ((message: string) => void) | undefined;
  onProgress?: ((progress: { volumesDone: number; volumes: number }) => void) | undefined;
  signal?: AbortSignal | undefined;
}

interface PodState {
  metadata: { uid?: string };
  spec?: { nodeName?: string; volumes?: PodVolumeSource[] };
  status?: {
    phase?: string;
    initContainerStatuses?: { name: string; state?: { running?: unknown; terminated?: unknown } }[];
  };
}

/** The PodVolumeRestore of one backed-up volume of a restored pod (phase New). */
export function podVolumeRestoreRecord(
  restore: { name: string; uid: string; backupName: string },
  pod: { namespace: string; name: string },
  backup: PodVolumeBackup,
): PodVolumeRestore {
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: 'PodVolumeRestore',
    metadata: {
      name: `${restore.name}-${pod.name}-${backup.spec.volume}`.slice(0, 253).replace(/[^a-z0-9.-]/g, '-'),
      labels: {
        [POD_VOLUME_LABELS.restoreName]: restore.name.slice(0, 63),
        [POD_VOLUME_LABELS.restoreUid]: restore.uid,
      },
    },
    spec: {
      restoreName: restore.name,
      backupName: restore.backupName,
      pod: { namespace: pod.namespace, name: pod.name, uid: '' },
      volume: backup.spec.volume,
      location: backup.spec.location,
      repository: backup.spec.repository,
      snapshotID: backup.status?.snapshotID ?? '',
    },
    status: { phase: 'New' },
  };
}

/** Waits until the pod runs its restore-wait container: then its volumes are mounted on its node. */
async function waitForRestoreWait(input: FillPodVolumesInput, pod: PodToFill): Promise<PodState> {
  const deadline = input.now().getTime() + input.podTimeoutMs;
  let last: PodState | undefined;
  for (;;) {
    last = await input.client.json<PodState>({
      path: `/api/v1/namespaces/${pod.namespace}/pods/${pod.name}`,
      signal: input.signal,
    });
    const wait = last.status?.initContainerStatuses?.find((c) => c.name === RESTORE_WAIT_CONTAINER);
    if (wait?.state?.running !== undefined || wait?.state?.terminated !== undefined) return last;
    if (input.now().getTime() > deadline)
      throw new Error(
        `the pod did not start its ${RESTORE_WAIT_CONTAINER} container within ${Math.round(input.podTimeoutMs / 1000)} s ` +
          `(phase ${last.status?.phase ?? 'unknown'}${last.spec?.nodeName ? `, node ${last.spec.nodeName}` : ', not scheduled'})`,
      );
    await input.sleep(1000, input.signal);
  }
}

async function fillOne(
  input: FillPodVolumesInput,
  pod: PodToFill,
  state: PodState,
  backup: PodVolumeBackup,
  record: PodVolumeRestore,
): Promise<PodVolumeRestoreStatus> {
  const started = input.now().toISOString();
  const volume = state.spec?.volumes?.find((v) => v.name === backup.spec.volume);
  if (!volume) throw new Error(`the restored pod has no volume ${backup.spec.volume}`);
  const claimName = volume.persistentVolumeClaim?.claimName;
  const persistentVolume =
    claimName === undefined
      ? undefined
      : await volumeOfClaim(input.client, pod.namespace, claimName, input.signal);
  const volumeDir = volumeDirOf(
    {
      name: volume.name,
      ...(claimName !== undefined ? { claimName } : {}),
      ...(volume.csi !== undefined ? { inlineCsi: true } : {}),
    },
    persistentVolume,
  );
  const path = await findVolumePath({
    kubeletRoot: input.kubeletRoot,
    podUid: state.metadata.uid ?? '',
    volumeDir,
    pod: `${pod.namespace}/${pod.name}`,
    volume: volume.name,
  });
  const repo = await input.repositories.repository(backup.spec.repository, {
    create: false,
    signal: input.signal,
  });
  const result = await restoreSnapshot(repo, {
    snapshotId: record.spec.snapshotID,
    target: path,
    signal: input.signal,
  });
  if (result.problems.length > 0) {
    const shown = result.problems.slice(0, 3).map((p) => `${p.path}: ${p.reason}`);
    throw new Error(`${result.problems.length} entries could not be restored: ${shown.join('; ')}`);
  }
  await mkdir(join(path, MARKER_DIR), { recursive: true });
  await writeFile(join(path, markerPath(input.restoreUid)), `${input.restoreName}\n`);
  return {
    phase: 'Completed',
    node: input.node,
    path,
    startTimestamp: started,
    completionTimestamp: input.now().toISOString(),
    progress: { totalBytes: result.stats.bytesWritten, bytesDone: result.stats.bytesWritten },
  };
}

/**
 * Fills the restored pods' volumes from their snapshots, pod by pod, and resolves with a record per volume.
 * A failure is a Failed record with the reason (the pod then waits in its init container, and says so);
 * only an abort throws.
 */
export async function fillPodVolumes(input: FillPodVolumesInput): Promise<PodVolumeRestore[]> {
  const records: PodVolumeRestore[] = [];
  const total = input.pods.reduce((n, p) => n + p.volumes.length, 0);
  for (const pod of input.pods) {
    const own = pod.volumes.map((backup) => ({
      backup,
      record: podVolumeRestoreRecord(
        { name: input.restoreName, uid: input.restoreUid, backupName: input.backupName },
        pod,
        backup,
      ),
    }));
    records.push(...own.map((o) => o.record));
    let state: PodState;
    try {
      state = await waitForRestoreWait(input, pod);
      if (state.spec?.nodeName !== input.node)
        throw new Error(
          `the pod is on node ${state.spec?.nodeName ?? '?'}, and this process writes only node ${input.node}'s volumes`,
        );
    } catch (error) {
      input.signal?.throwIfAborted();
      for (const { record } of own) record.status = { phase: 'Failed', message: (error as Error).message };
      continue;
    }
    for (const { backup, record } of own) {
      record.spec.pod.uid = state.metadata.uid ?? '';
      try {
        record.status = await fillOne(input, pod, state, backup, record);
        input.log?.(
          `pod ${pod.namespace}/${pod.name} volume ${backup.spec.volume}: restored into ${record.status.path}`,
        );
      } catch (error) {
        input.signal?.throwIfAborted();
        record.status = { phase: 'Failed', node: input.node, message: (error as Error).message };
      }
      input.onProgress?.({
        volumesDone: records.filter((r) => r.status?.phase !== 'New').length,
        volumes: total,
      });
    }
  }
  return records;
}
