// Snapshot data movement (`snapshotMoveData`): a CSI snapshot's data copied into the location's
// repository, so the backup outlives the storage system it was taken on. The snapshot is exposed as a
// temporary claim made from it (through a pre-provisioned VolumeSnapshot, as a restore makes one), mounted
// read-only by a short-lived pod; the node agent (or this process, `--node-agent local`) reads the
// volume's files where the kubelet mounts them, as for any pod volume, into the repository path of the
// claim (`/<ns>/pvc/<claim>`: the same as a file-system backup of the claim, so each upload is
// incremental against the last). The record names the backed-up pod that mounts the claim, so a restore
// fills the claim through that pod as it fills any pod volume. The temporary objects are deleted after,
// and the CSI snapshot too (the data is in the repository now).
import { setTimeout as delay } from 'node:timers/promises';
import { EXCLUDE_FROM_BACKUP_LABELS, POD_VOLUME_LABELS, type PodVolumeBackup } from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import {
  claimFromSnapshot,
  deletePreProvisionedSnapshot,
  derivedName,
  preProvisionedSnapshot,
  type CsiSnapshotRecord,
} from './csi-snapshots.ts';
import { podVolumeBackupRecord, podVolumeRecordName } from './fs-backup.ts';

/** The label every object the data mover makes carries: the backup's name. */
export const DATA_MOVER_LABEL = 'cairn.dev/data-mover-backup';

/** The mover pod's volume (its one volume: the temporary claim). */
const MOVER_VOLUME = 'data';

export interface ExposeInput {
  client: KubeClient;
  record: CsiSnapshotRecord;
  /** The claim the snapshot was taken of, as backed up. */
  claim: KubeObject;
  backupName: string;
  backupUid: string;
  /** The mover pod's image (it only sleeps): Cairn's own, or any with `sleep`. */
  image: string;
  imagePullPolicy?: string | undefined;
  /** How long the mover pod may take to run with the claim mounted. */
  timeoutMs: number;
  pollMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** An exposed snapshot: the mover pod, where its volume is on the node, and the undo. */
export interface ExposedSnapshot {
  pod: KubeObject;
  /** The volume's directory under the kubelet's pods/<uid>/volumes/<plugin>/ (volumeDirOf). */
  volumeDir: string;
  /** Deletes the pod, the temporary claim and the pre-provisioned VolumeSnapshot and content. */
  remove: () => Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal });

async function createOrKeep(client: KubeClient, path: string, body: object, signal?: AbortSignal) {
  try {
    await client.json({ method: 'POST', path, body, signal });
  } catch (error) {
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
}

/**
 * Exposes a snapshot for reading: a temporary claim made from it and a pod that mounts it read-only,
 * waited for until the pod runs (up to `timeoutMs`). Throws an Error naming the claim when it does not,
 * having removed what it made.
 */
export async function exposeSnapshot(input: ExposeInput): Promise<ExposedSnapshot> {
  const { client, record, signal } = input;
  const namespace = record.namespace;
  const name = derivedName('cairn-move', input.backupUid, namespace, record.claim);
  // Left out of every backup (a second backup of the namespace while the move runs must not take them).
  const labels = {
    [DATA_MOVER_LABEL]: input.backupName.slice(0, 63),
    [EXCLUDE_FROM_BACKUP_LABELS[0]!]: 'true',
  };
  const podPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${name}`;
  const claimPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims/${name}`;
  const remove = async () => {
    // The pod first (it holds the claim), at once; then the claim (its volume goes with it: Delete), and
    // once the claim is gone (up to a minute) the VolumeSnapshot and content (Retain: the snapshot stays).
    for (const [path, body] of [
      [podPath, { gracePeriodSeconds: 0 }],
      [claimPath, undefined],
    ] as const) {
      const response = await client.send({ method: 'DELETE', path, ...(body ? { body } : {}) });
      if (response.status >= 300 && response.status !== 404)
        throw new Error(`deleting ${path} failed: HTTP ${response.status}`);
    }
    const goneBy = Date.now() + 60_000;
    while ((await client.send({ method: 'GET', path: claimPath })).status !== 404 && Date.now() < goneBy)
      await sleep(input.pollMs ?? 1000);
    await deletePreProvisionedSnapshot(client, { namespace, name });
  };
  try {
    await preProvisionedSnapshot(client, record, { namespace, name, labels }, signal);
    const from = claimFromSnapshot(input.claim, name, record.restoreSize);
    const spec = { ...(from.spec as Record<string, unknown>) };
    await createOrKeep(
      client,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims`,
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace, labels }, spec },
      signal,
    );
    await createOrKeep(
      client,
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace, labels },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: 0,
          // It only sleeps: as little as a namespace's restricted Pod Security standard and quotas allow.
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65534,
            runAsGroup: 65534,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'mover',
              image: input.image,
              imagePullPolicy: input.imagePullPolicy ?? 'IfNotPresent',
              command: ['sleep', '2147483647'],
              securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              resources: {
                requests: { cpu: '10m', memory: '16Mi' },
                limits: { cpu: '100m', memory: '64Mi' },
              },
              volumeMounts: [{ name: MOVER_VOLUME, mountPath: '/data', readOnly: true }],
            },
          ],
          volumes: [{ name: MOVER_VOLUME, persistentVolumeClaim: { claimName: name, readOnly: true } }],
        },
      },
      signal,
    );
    const deadline = Date.now() + input.timeoutMs;
    let pod: KubeObject;
    for (;;) {
      pod = await client.json<KubeObject>({ path: podPath, signal });
      const phase = (pod.status as { phase?: string } | undefined)?.phase;
      if (phase === 'Running') break;
      if (phase === 'Failed' || phase === 'Succeeded')
        throw new Error(`claim ${namespace}/${record.claim}: its data mover pod ${name} ended (${phase})`);
      if (Date.now() >= deadline)
        throw new Error(
          `claim ${namespace}/${record.claim}: its data mover pod ${name} was not running within ` +
            `${Math.round(input.timeoutMs / 1000)} s (phase ${phase ?? 'unknown'})`,
        );
      await sleep(input.pollMs ?? 1000, signal);
    }
    const claim = await client.json<KubeObject>({ path: claimPath, signal });
    const volumeName = (claim.spec as { volumeName?: string } | undefined)?.volumeName ?? '';
    const pv = await client.json<KubeObject>({
      path: `/api/v1/persistentvolumes/${encodeURIComponent(volumeName)}`,
      signal,
    });
    const pvSpec = pv.spec as { csi?: unknown; persistentVolumeReclaimPolicy?: string } | undefined;
    // The temporary volume goes with its claim, whatever its class's reclaim policy.
    if (pvSpec?.persistentVolumeReclaimPolicy !== 'Delete')
      await client.json({
        method: 'PATCH',
        path: `/api/v1/persistentvolumes/${encodeURIComponent(volumeName)}`,
        contentType: 'application/merge-patch+json',
        body: { spec: { persistentVolumeReclaimPolicy: 'Delete' } },
        signal,
      });
    return { pod, volumeDir: pvSpec?.csi !== undefined ? `${volumeName}/mount` : volumeName, remove };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

/**
 * The records that move an exposed snapshot's data into each location's repository: one per location,
 * naming the mover pod (the node agent finds the volume through it) and the claim (the repository path
 * and tags are the claim's).
 */
export function moveRecords(input: {
  exposed: ExposedSnapshot;
  record: CsiSnapshotRecord;
  backupName: string;
  backupUid: string;
  locations: readonly string[];
}): PodVolumeBackup[] {
  const { exposed, record } = input;
  const first = input.locations[0] ?? '';
  return input.locations.map((location) =>
    podVolumeBackupRecord(input, exposed.pod, MOVER_VOLUME, {
      // The mover pod's name hashes the backup's uid, the namespace and the claim: unique in the backup.
      name: `${input.backupName}-${exposed.pod.metadata.name}${location === first ? '' : `-${location}`}`
        .slice(0, 253)
        .replace(/[^a-z0-9.-]/g, '-'),
      volumeDir: exposed.volumeDir,
      claim: record.claim,
      location,
      movedFrom: record.snapshotHandle,
      // The backed-up PersistentVolume: a restore provisions the claim anew instead of restoring it.
      tags: { pv: record.volume, 'csi-snapshot': record.snapshotHandle },
    }),
  );
}

/**
 * A moved record as the backup keeps it: naming the backed-up pod that mounts the claim and its volume,
 * so a restore fills the claim through that pod (the name as a file-system backup of that volume has).
 */
export function asPodVolume(
  moved: PodVolumeBackup,
  pod: { namespace: string; name: string; uid: string; volume: string },
  first: string,
): PodVolumeBackup {
  return {
    ...moved,
    metadata: {
      ...moved.metadata,
      name: podVolumeRecordName(moved.spec.backupName, pod.uid, pod.volume, moved.spec.location, first),
      labels: { ...moved.metadata.labels, [POD_VOLUME_LABELS.podUid]: pod.uid },
    },
    spec: {
      ...moved.spec,
      pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
      volume: pod.volume,
    },
  };
}
