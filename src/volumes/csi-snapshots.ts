// CSI volume snapshots, as Velero's CSI support takes them (pkg/backup/actions/csi/pvc_action.go and the
// restore actions beside it): during a backup, a VolumeSnapshot of a claim whose volume a CSI driver
// provides, with the driver's VolumeSnapshotClass labelled `cairn.dev/csi-volumesnapshot-class: "true"`
// (or Velero's label); once it is readyToUse, its VolumeSnapshotContent is kept (deletionPolicy Retain)
// and the VolumeSnapshot deleted, so that the snapshot outlives the claim's namespace. The backup records
// both objects (Velero's `<name>-csi-volumesnapshots.json.gz` and `-csi-volumesnapshotcontents.json.gz`).
//
// A restore makes a pre-provisioned VolumeSnapshotContent from the recorded snapshot handle and a
// VolumeSnapshot bound to it in the target namespace, then creates the claim with that VolumeSnapshot as
// its dataSource: the same path in the backed-up cluster and in another one that reaches the same storage.
// Deleting the backup deletes the snapshot (its content, deletionPolicy Delete).
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import { BackupNotFoundError, type BackupStore } from '../storage/index.ts';
import { readBackupList } from './pod-volume-records.ts';
import { LABELS } from '../api/index.ts';

export const SNAPSHOT_CLASS_LABELS = [
  'cairn.dev/csi-volumesnapshot-class',
  'velero.io/csi-volumesnapshot-class',
] as const;
const GROUP_PATH = '/apis/snapshot.storage.k8s.io/v1';
export const SNAPSHOT_BACKUP_LABEL = LABELS.backupName;
export const SNAPSHOT_RESTORE_LABEL = LABELS.restoreName;
export const DEFAULT_CSI_SNAPSHOT_TIMEOUT_MS = 10 * 60_000;

/** One claim's snapshot, as a backup records it and a restore reads it. */
export interface CsiSnapshotRecord {
  /** The claim's namespace and name, as backed up. */
  namespace: string;
  claim: string;
  /** Its PersistentVolume, as backed up. */
  volume: string;
  driver: string;
  className: string;
  /** The VolumeSnapshotContent kept (Retain), and the storage system's handle of the snapshot. */
  contentName: string;
  snapshotHandle: string;
  /** The size a volume made from it needs ("1Gi"). */
  restoreSize?: string | undefined;
  /** The uid of the snapshotted cluster's kube-system namespace: which cluster holds the snapshot. */
  clusterId?: string | undefined;
}

const CLUSTER_ID_ANNOTATION = 'cairn.dev/cluster-id';

/** A cluster's identity: the uid of its kube-system namespace (made once, when the cluster is). */
export async function clusterIdOf(client: KubeClient, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await client.json<KubeObject>({ path: '/api/v1/namespaces/kube-system', signal })).metadata.uid;
  } catch (error) {
    if (error instanceof KubeApiError && (error.status === 403 || error.status === 404)) return undefined;
    throw error;
  }
}

interface SnapshotStatus {
  boundVolumeSnapshotContentName?: string;
  readyToUse?: boolean;
  restoreSize?: string;
  error?: { message?: string };
}
interface ContentSpec {
  deletionPolicy?: string;
  driver?: string;
  volumeSnapshotClassName?: string;
  source?: { snapshotHandle?: string; volumeHandle?: string };
}

const snapshotsPath = (namespace: string) =>
  `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/volumesnapshots`;
const contentsPath = `${GROUP_PATH}/volumesnapshotcontents`;

/** A name for an object made for `parts`: the same parts give the same name (a retry finds its object). */
function nameFor(prefix: string, ...parts: string[]): string {
  return `${prefix}-${createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12)}`;
}

const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal });

/** The VolumeSnapshotClasses of each CSI driver that are labelled for Cairn (or Velero). */
export async function labelledSnapshotClasses(
  client: KubeClient,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const byDriver = new Map<string, string>();
  let list: { items: { metadata: { name: string; labels?: Record<string, string> }; driver: string }[] };
  try {
    list = await client.json({ path: `${GROUP_PATH}/volumesnapshotclasses`, signal });
  } catch (error) {
    // No snapshot API in this cluster: no class, so no snapshot (each claim says why).
    if (error instanceof KubeApiError && error.status === 404) return byDriver;
    throw error;
  }
  for (const labelKey of SNAPSHOT_CLASS_LABELS)
    for (const item of [...list.items].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)))
      if (item.metadata.labels?.[labelKey] === 'true' && !byDriver.has(item.driver))
        byDriver.set(item.driver, item.metadata.name);
  return byDriver;
}

/** What a claim's snapshot is taken of, and with: its volume, its driver and the class. */
export interface SnapshotTarget {
  volume: string;
  driver: string;
  className: string;
}

/**
 * What a claim needs to be snapshotted, or why it cannot be. Its PersistentVolume is read, unless
 * `known` gives it as already read (undefined: there is none).
 */
export async function snapshotTarget(
  client: KubeClient,
  claim: KubeObject,
  classes: ReadonlyMap<string, string>,
  signal?: AbortSignal,
  known?: { pv: KubeObject | undefined },
): Promise<SnapshotTarget | { skipped: string }> {
  const volumeName = (claim.spec as { volumeName?: string } | undefined)?.volumeName;
  if (!volumeName) return { skipped: 'the claim is not bound to a volume' };
  let pv: KubeObject | undefined = known?.pv;
  if (!known)
    try {
      pv = await client.json<KubeObject>({
        path: `/api/v1/persistentvolumes/${encodeURIComponent(volumeName)}`,
        signal,
      });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
  if (!pv) return { skipped: `its volume ${volumeName} is gone` };
  const driver = (pv.spec as { csi?: { driver?: string } } | undefined)?.csi?.driver;
  if (!driver) return { skipped: `its volume ${volumeName} is not a CSI volume` };
  const className = classes.get(driver);
  if (!className)
    return {
      skipped: `no VolumeSnapshotClass of driver ${driver} is labelled ${SNAPSHOT_CLASS_LABELS[0]}: "true"`,
    };
  return { volume: volumeName, driver, className };
}

export interface TakeSnapshotInput {
  client: KubeClient;
  claim: KubeObject;
  target: { volume: string; driver: string; className: string };
  backupName: string;
  backupUid: string;
  timeoutMs: number;
  /** The cluster's identity (clusterIdOf), recorded with the snapshot. */
  clusterId?: string | undefined;
  signal?: AbortSignal | undefined;
  /** How often the snapshot is looked at. Default 1 s. */
  pollMs?: number | undefined;
}

/**
 * Snapshots a claim: creates the VolumeSnapshot, waits until it is readyToUse (up to `timeoutMs`), sets
 * its content's deletionPolicy to Retain, then deletes the VolumeSnapshot (the content and the snapshot
 * stay). Resolves with the record and the two objects as they were when ready. Throws an Error naming the
 * claim on a failure or timeout, having deleted what it made.
 */
export async function takeSnapshot(
  input: TakeSnapshotInput,
): Promise<{ record: CsiSnapshotRecord; snapshot: KubeObject; content: KubeObject }> {
  const { client, claim, target, signal } = input;
  const namespace = claim.metadata.namespace ?? '';
  const claimName = claim.metadata.name;
  const what = `claim ${namespace}/${claimName}`;
  const name = nameFor('cairn', input.backupUid, namespace, claimName);
  const path = `${snapshotsPath(namespace)}/${name}`;
  try {
    await client.json({
      method: 'POST',
      path: snapshotsPath(namespace),
      body: {
        apiVersion: 'snapshot.storage.k8s.io/v1',
        kind: 'VolumeSnapshot',
        metadata: {
          name,
          namespace,
          labels: { [SNAPSHOT_BACKUP_LABEL]: input.backupName, [LABELS.veleroBackupName]: input.backupName },
          annotations: {
            'cairn.dev/persistent-volume': target.volume,
            ...(input.clusterId ? { [CLUSTER_ID_ANNOTATION]: input.clusterId } : {}),
          },
        },
        spec: {
          volumeSnapshotClassName: target.className,
          source: { persistentVolumeClaimName: claimName },
        },
      },
      signal,
    });
  } catch (error) {
    // Made by an earlier try of this backup (its name is the backup's and the claim's): waited for below.
    if (!(error instanceof KubeApiError && error.status === 409)) throw error;
  }
  let contentName: string | undefined;
  /**
   * Undoes what was made: once the driver has answered the cut (settled), the content back to Delete (if
   * it was made Retain), then the VolumeSnapshot.
   */
  const undo = async () => {
    await settled(client, path, input.pollMs ?? 1000);
    contentName = (await boundContent(client, path)) ?? contentName;
    if (contentName)
      await client
        .json({
          method: 'PATCH',
          path: `${contentsPath}/${encodeURIComponent(contentName)}`,
          contentType: 'application/merge-patch+json',
          body: { spec: { deletionPolicy: 'Delete' } },
        })
        .catch(() => undefined);
    await client.send({ method: 'DELETE', path }).catch(() => undefined);
  };
  try {
    const deadline = Date.now() + input.timeoutMs;
    let snapshot: KubeObject;
    for (;;) {
      snapshot = await client.json<KubeObject>({ path, signal });
      const status = (snapshot.status ?? {}) as SnapshotStatus;
      contentName = status.boundVolumeSnapshotContentName ?? contentName;
      if (status.readyToUse === true && status.boundVolumeSnapshotContentName) break;
      if (Date.now() >= deadline)
        throw new Error(
          `${what}: its VolumeSnapshot ${name} was not ready within ${Math.round(input.timeoutMs / 1000)} s` +
            (status.error?.message ? ` (${status.error.message})` : ' (--csi-snapshot-timeout)'),
        );
      await sleep(input.pollMs ?? 1000, signal);
    }
    const content = contentName ?? '';
    const contentPath = `${contentsPath}/${encodeURIComponent(content)}`;
    // Retain first: deleting the VolumeSnapshot then leaves the content, and the storage's snapshot.
    const kept = await client.json<KubeObject>({
      method: 'PATCH',
      path: contentPath,
      contentType: 'application/merge-patch+json',
      body: { spec: { deletionPolicy: 'Retain' } },
      signal,
    });
    const handle = (kept.status as { snapshotHandle?: string } | undefined)?.snapshotHandle;
    if (!handle) throw new Error(`${what}: its VolumeSnapshotContent ${content} has no snapshot handle`);
    await client.send({ method: 'DELETE', path, signal });
    // The snapshot controller decides from its cache whether the content goes with the VolumeSnapshot: once
    // the VolumeSnapshot is gone, the content must still be there, Retain, not being deleted.
    const goneBy = Date.now() + 60_000;
    while ((await client.send({ method: 'GET', path, signal })).status !== 404) {
      if (Date.now() >= goneBy)
        throw new Error(`${what}: its VolumeSnapshot ${name} was not deleted within 60 s`);
      await sleep(input.pollMs ?? 1000, signal);
    }
    let after: KubeObject;
    try {
      after = await client.json<KubeObject>({ path: contentPath, signal });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404)
        throw new Error(`${what}: its VolumeSnapshotContent ${content} was deleted with the VolumeSnapshot`, {
          cause: error,
        });
      throw error;
    }
    if (
      after.metadata.deletionTimestamp ||
      (after.spec as ContentSpec | undefined)?.deletionPolicy !== 'Retain'
    )
      throw new Error(
        `${what}: its VolumeSnapshotContent ${content} is being deleted with the VolumeSnapshot`,
      );
    return {
      record: {
        namespace,
        claim: claimName,
        volume: target.volume,
        driver: target.driver,
        className: target.className,
        contentName: content,
        snapshotHandle: handle,
        restoreSize: (snapshot.status as SnapshotStatus).restoreSize,
      },
      snapshot,
      content: after,
    };
  } catch (error) {
    await undo();
    throw error;
  }
}

/** The VolumeSnapshotContent a VolumeSnapshot is bound to, if any (and if it can be read). */
async function boundContent(client: KubeClient, path: string): Promise<string | undefined> {
  const snapshot = await client.json<KubeObject>({ path }).catch(() => undefined);
  return (snapshot?.status as SnapshotStatus | undefined)?.boundVolumeSnapshotContentName;
}

/** The annotation the CSI sidecar keeps on a content while the driver's CreateSnapshot has not answered. */
const BEING_CREATED = 'snapshot.storage.kubernetes.io/volumesnapshot-being-created';

/** How long an unready snapshot is given to settle before it is deleted anyway. */
const SETTLE_MS = 120_000;

/**
 * Waits (up to SETTLE_MS) until a VolumeSnapshot's cut has been answered by its driver: the snapshot has
 * an error, or its content has a status and no longer carries BEING_CREATED. Deleting a VolumeSnapshot
 * while the sidecar is still writing its content's status races the sidecar (external-snapshotter 8.x):
 * its own last write after the cut can hide the deletion from it, and the content, and the VolumeSnapshot
 * with it, stay in deletion for good. Seen on the testbed under load; waiting for the answer avoids it.
 */
async function settled(client: KubeClient, path: string, pollMs: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    const snapshot = await client.json<KubeObject>({ path }).catch(() => undefined);
    if (!snapshot) return;
    const status = (snapshot.status ?? {}) as SnapshotStatus;
    if (status.error) return;
    const name = status.boundVolumeSnapshotContentName;
    if (name) {
      const content = await client
        .json<KubeObject>({ path: `${contentsPath}/${encodeURIComponent(name)}` })
        .catch(() => undefined);
      if (!content) return;
      const answered = content.status as { readyToUse?: boolean; error?: unknown } | undefined;
      if (
        content.metadata.annotations?.[BEING_CREATED] === undefined &&
        (answered?.readyToUse !== undefined || answered?.error !== undefined)
      )
        return;
    }
    await sleep(pollMs);
  }
}

/** The records of a backup's snapshots, from its two files (VolumeSnapshots, VolumeSnapshotContents). */
export function snapshotRecords(
  snapshots: readonly KubeObject[],
  contents: readonly KubeObject[],
): CsiSnapshotRecord[] {
  const contentByName = new Map(
    contents
      .filter((c) => typeof c === 'object' && c !== null && typeof c.metadata === 'object')
      .map((c) => [c.metadata.name, c]),
  );
  const records: CsiSnapshotRecord[] = [];
  for (const snapshot of snapshots) {
    // Read from a stored file: anything not shaped like a VolumeSnapshot is left out.
    if (typeof snapshot !== 'object' || snapshot === null || typeof snapshot.metadata !== 'object') continue;
    const status = (snapshot.status ?? {}) as SnapshotStatus;
    const content = contentByName.get(status.boundVolumeSnapshotContentName ?? '');
    const spec = (content?.spec ?? {}) as ContentSpec;
    const handle = (content?.status as { snapshotHandle?: string } | undefined)?.snapshotHandle;
    const claim = (snapshot.spec as { source?: { persistentVolumeClaimName?: string } } | undefined)?.source
      ?.persistentVolumeClaimName;
    if (!content || !handle || !claim) continue;
    records.push({
      namespace: snapshot.metadata.namespace ?? '',
      claim,
      volume: snapshot.metadata.annotations?.['cairn.dev/persistent-volume'] ?? '',
      clusterId: snapshot.metadata.annotations?.[CLUSTER_ID_ANNOTATION],
      driver: spec.driver ?? '',
      className:
        (snapshot.spec as { volumeSnapshotClassName?: string } | undefined)?.volumeSnapshotClassName ?? '',
      contentName: content.metadata.name,
      snapshotHandle: handle,
      restoreSize: typeof status.restoreSize === 'string' ? status.restoreSize : undefined,
    });
  }
  return records;
}

/**
 * Deletes a backup's snapshots: each content's deletionPolicy set to Delete, then the content deleted (the
 * driver deletes the storage's snapshot). A content already gone counts as deleted. Resolves with the
 * problems, one per snapshot that could not be deleted.
 */
export async function deleteSnapshots(
  client: KubeClient,
  records: readonly CsiSnapshotRecord[],
  signal?: AbortSignal,
): Promise<string[]> {
  const problems: string[] = [];
  for (const record of records) {
    const path = `${contentsPath}/${encodeURIComponent(record.contentName)}`;
    try {
      await client.json({
        method: 'PATCH',
        path,
        contentType: 'application/merge-patch+json',
        body: { spec: { deletionPolicy: 'Delete' } },
        signal,
      });
      await client.json({ method: 'DELETE', path, signal });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) continue;
      problems.push(
        `the snapshot of claim ${record.namespace}/${record.claim} (VolumeSnapshotContent ${record.contentName}) was not deleted: ${(error as Error).message}`,
      );
    }
  }
  return problems;
}

/**
 * A VolumeSnapshotContent made from the recorded handle (pre-provisioned, Retain: the storage's snapshot
 * stays) and a VolumeSnapshot `name` bound to it in `namespace`. Objects left by an earlier try are
 * reused.
 */
export async function preProvisionedSnapshot(
  client: KubeClient,
  record: CsiSnapshotRecord,
  target: { namespace: string; name: string; labels: Record<string, string> },
  signal?: AbortSignal,
): Promise<void> {
  const { namespace, name, labels } = target;
  const create = async (path: string, body: object) => {
    try {
      await client.json({ method: 'POST', path, body, signal });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409)) throw error;
    }
  };
  await create(contentsPath, {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshotContent',
    metadata: { name, labels },
    spec: {
      deletionPolicy: 'Retain',
      driver: record.driver,
      source: { snapshotHandle: record.snapshotHandle },
      volumeSnapshotClassName: record.className,
      volumeSnapshotRef: { name, namespace },
    },
  });
  await create(snapshotsPath(namespace), {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { name, namespace, labels },
    spec: { source: { volumeSnapshotContentName: name }, volumeSnapshotClassName: record.className },
  });
}

/** Deletes a pre-provisioned VolumeSnapshot and its content (Retain: the storage's snapshot stays). */
export async function deletePreProvisionedSnapshot(
  client: KubeClient,
  target: { namespace: string; name: string },
): Promise<void> {
  for (const path of [
    `${snapshotsPath(target.namespace)}/${encodeURIComponent(target.name)}`,
    `${contentsPath}/${encodeURIComponent(target.name)}`,
  ]) {
    const response = await client.send({ method: 'DELETE', path });
    if (response.status >= 300 && response.status !== 404)
      throw new Error(`deleting ${path} failed: HTTP ${response.status}`);
  }
}

/** A name for an object made for (prefix) a backup or restore (uid) and a claim: short, stable. */
export function derivedName(prefix: string, uid: string, namespace: string, claim: string): string {
  return nameFor(prefix, uid, namespace, claim);
}

/**
 * For a restore: a VolumeSnapshotContent made from the recorded handle (pre-provisioned, Retain: the
 * snapshot stays the backup's) and a VolumeSnapshot bound to it in `namespace`, named for the restore and
 * the claim. Resolves with the VolumeSnapshot's name, for the claim's dataSource. Objects left by an earlier
 * try of the same restore are reused.
 */
export async function snapshotForRestore(
  client: KubeClient,
  record: CsiSnapshotRecord,
  target: { namespace: string; claim: string; restoreName: string; restoreUid: string },
  signal?: AbortSignal,
): Promise<string> {
  const snapshotName = nameFor('cairn-restore', target.restoreUid, target.namespace, target.claim);
  await preProvisionedSnapshot(
    client,
    record,
    {
      namespace: target.namespace,
      name: snapshotName,
      labels: { [SNAPSHOT_RESTORE_LABEL]: target.restoreName },
    },
    signal,
  );
  return snapshotName;
}

const SUFFIXES: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The bytes of a storage quantity ("1Gi", "500M", "1073741824"), or undefined for what is not one. The
 * client library has no quantity parser, and comparing two sizes is all that is needed here.
 */
export function quantityBytes(text: string): number | undefined {
  const match = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|)$/.exec(text.trim());
  const factor = match ? SUFFIXES[match[2] ?? ''] : undefined;
  return match && factor !== undefined ? Number(match[1]) * factor : undefined;
}

/**
 * The claim (a copy) made from a VolumeSnapshot: its dataSource, no volume and no selector (a claim made
 * from a snapshot is provisioned, never matched to a volume), and at least the snapshot's size (the
 * provisioner refuses a smaller one).
 */
export function claimFromSnapshot(
  claim: KubeObject,
  snapshotName: string,
  restoreSize: string | undefined,
): KubeObject {
  const spec = structuredClone((claim.spec ?? {}) as Record<string, unknown>);
  delete spec.volumeName;
  delete spec.dataSourceRef;
  delete spec.selector;
  spec.dataSource = { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: snapshotName };
  if (restoreSize) {
    const resources = (spec.resources ?? {}) as { requests?: Record<string, string> };
    const requested = resources.requests?.storage;
    const needed = quantityBytes(restoreSize);
    if (!requested || (needed !== undefined && (quantityBytes(requested) ?? 0) < needed))
      spec.resources = { ...resources, requests: { ...resources.requests, storage: restoreSize } };
  }
  return { ...claim, spec };
}

/** A backup's snapshot records, from its two files in `store` (none when it has no such files). */
export async function readSnapshotRecords(
  store: BackupStore,
  backup: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<CsiSnapshotRecord[]> {
  const read = async (file: 'csiVolumeSnapshots' | 'csiVolumeSnapshotContents') =>
    (await readBackupList(store, backup, file, options)) as KubeObject[];
  return snapshotRecords(await read('csiVolumeSnapshots'), await read('csiVolumeSnapshotContents'));
}

/**
 * After a restore: the VolumeSnapshots (and their pre-provisioned contents) it made, deleted once their
 * claims are bound (the new volumes are made from them then); the storage's snapshots stay (Retain), the
 * backup's. Waits up to `waitMs` in all; a claim not bound by then keeps its objects, and the result names
 * them.
 */
export async function releaseRestoreSnapshots(
  client: KubeClient,
  made: readonly { namespace: string; claim: string; snapshotName: string }[],
  options: { waitMs: number; pollMs?: number; signal?: AbortSignal | undefined },
): Promise<{ released: number; left: string[] }> {
  const deadline = Date.now() + options.waitMs;
  const pending = [...made];
  let released = 0;
  while (pending.length > 0) {
    for (const item of [...pending]) {
      let phase: string | undefined;
      try {
        const claim = await client.json<KubeObject>({
          path: `/api/v1/namespaces/${encodeURIComponent(item.namespace)}/persistentvolumeclaims/${encodeURIComponent(item.claim)}`,
          signal: options.signal,
        });
        // Bound to a volume: a status restored from the backup may say Bound before any volume is made.
        const bound =
          (claim.status as { phase?: string } | undefined)?.phase === 'Bound' &&
          Boolean((claim.spec as { volumeName?: string } | undefined)?.volumeName);
        phase = bound ? 'Bound' : 'Pending';
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
        phase = 'Gone';
      }
      if (phase !== 'Bound' && phase !== 'Gone') continue;
      const gone = (error: unknown) => {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      };
      await client
        .json({
          method: 'DELETE',
          path: `${snapshotsPath(item.namespace)}/${item.snapshotName}`,
          signal: options.signal,
        })
        .catch(gone);
      await client
        .json({ method: 'DELETE', path: `${contentsPath}/${item.snapshotName}`, signal: options.signal })
        .catch(gone);
      pending.splice(pending.indexOf(item), 1);
      released++;
    }
    if (pending.length === 0 || Date.now() >= deadline) break;
    await sleep(options.pollMs ?? 1000, options.signal);
  }
  return {
    released,
    left: pending.map(
      (p) =>
        `claim ${p.namespace}/${p.claim} is not bound yet: its VolumeSnapshot ${p.snapshotName} and VolumeSnapshotContent ${p.snapshotName} are left; delete them once it is bound`,
    ),
  };
}

/**
 * Deleting a backup deletes its CSI snapshots, read from its records in `store` (read before its files
 * go: they are the only list). Resolves with how many were deleted and the problems; a backup whose
 * snapshots could not be deleted should stay, or its snapshots are left with nothing that names them.
 */
export async function deleteBackupSnapshots(
  client: () => Promise<KubeClient>,
  store: BackupStore,
  name: string,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<{ found: boolean; deleted: number; problems: string[] }> {
  let records: CsiSnapshotRecord[];
  try {
    records = await readSnapshotRecords(store, name, options);
  } catch (error) {
    options.signal?.throwIfAborted();
    if (error instanceof BackupNotFoundError) return { found: false, deleted: 0, problems: [] };
    return {
      found: true,
      deleted: 0,
      problems: [
        `the CSI snapshot records of backup "${name}" in location "${store.location}" cannot be read: ${(error as Error).message}`,
      ],
    };
  }
  if (records.length === 0) return { found: true, deleted: 0, problems: [] };
  let kube: KubeClient;
  try {
    kube = await client();
  } catch (error) {
    return {
      found: true,
      deleted: 0,
      problems: [
        `backup "${name}" has ${records.length} CSI snapshots, which only its cluster can delete: ${(error as Error).message}`,
      ],
    };
  }
  // A kubeconfig for another cluster would find no content there, and the real snapshots would be left
  // with nothing naming them: refused instead.
  const here = await clusterIdOf(kube, options.signal);
  const elsewhere = records.filter(
    (r) => r.clusterId !== undefined && here !== undefined && r.clusterId !== here,
  );
  if (elsewhere.length > 0)
    return {
      found: true,
      deleted: 0,
      problems: [
        `backup "${name}" has ${elsewhere.length} CSI snapshots in another cluster (kube-system uid ${elsewhere[0]?.clusterId ?? '?'}; this one's is ${here ?? '?'}): delete it with a kubeconfig for that cluster`,
      ],
    };
  const problems = await deleteSnapshots(kube, records, options.signal);
  return { found: true, deleted: records.length - problems.length, problems };
}
