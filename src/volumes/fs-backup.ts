// File-system backup of pod volumes, from a backup's pods to PodVolumeBackup records: which volumes
// (selection.ts), where each one is on its node (a claim's PersistentVolume decides the directory), and
// carrying one out on the node (`backUpPodVolume`: the node agent's work, run in the node agent process or,
// with `--node-agent local` on a single-node cluster, in the CLI itself). A volume several pods mount is
// backed up once. Every volume of every pod ends up in the records: backed up, failed, or skipped and why.
import { hostname as machineHostname } from 'node:os';
import {
  API_GROUP,
  API_VERSION,
  POD_VOLUME_LABELS,
  type PodVolumeBackup,
  type PodVolumeBackupStatus,
} from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import { backupDirectory, findSnapshots, type Repo } from '../repo/index.ts';
import { findVolumePath } from './host-path.ts';
import { MARKER_DIR } from './restore-wait.ts';
import type { VolumePolicy } from '../api/index.ts';
import {
  claimOfVolume,
  selectPodVolumes,
  volumeDirOf,
  type PodVolumeSource,
  type VolumeSelectionOptions,
} from './selection.ts';
import type { FsChosenClaim, VolumeDecision } from './volume-decisions.ts';
import { matchVolumePolicy, podVolumeFacts, type ClaimReader, type PolicyMatch } from './volume-policy.ts';
import type { VolumeRepositories } from './repositories.ts';

/** The host name every Cairn snapshot records: snapshots are told apart by their paths and tags. */
export const SNAPSHOT_HOST = 'cairn';

export interface PodVolumePlan {
  /** One record per volume to back up (phase New), then carried out by a node agent. */
  backups: PodVolumeBackup[];
  /** Volumes not backed up, with the reason, as records of phase Skipped. */
  skipped: PodVolumeBackup[];
  warnings: string[];
  /** Every pod volume that holds data of the pod's own: its action and what chose it. */
  decisions: VolumeDecision[];
}

export interface PlanInput extends Omit<VolumeSelectionOptions, 'policyMatches'> {
  client: KubeClient;
  pods: readonly KubeObject[];
  backupName: string;
  backupUid: string;
  /**
   * The backup's locations, the first its storageLocation: every chosen volume gets a record per location,
   * each backed up into that location's repository (skipped volumes get one record, naming the first).
   */
  locations: readonly string[];
  /** The backup's volume policy, matched against each volume first. */
  policy?: VolumePolicy | undefined;
  /** Reads the claims the pods mount (for the policy), once each. */
  reader?: ClaimReader | undefined;
  signal?: AbortSignal | undefined;
}

interface PodFields {
  nodeName?: string;
}

/**
 * A pod volume record's name: `<backup>-<pod uid prefix>-<volume>`, and for a location other than the
 * first `-<location>` after it.
 */
export function podVolumeRecordName(
  backupName: string,
  podUid: string,
  volume: string,
  location: string,
  first: string,
): string {
  return `${backupName}-${podUid.slice(0, 8)}-${volume}${location === first ? '' : `-${location}`}`
    .slice(0, 253)
    .replace(/[^a-z0-9.-]/g, '-');
}

/**
 * The record of one pod volume (phase New, or Skipped with the reason): named by podVolumeRecordName
 * unless `name` is given, tagged with the backup, the pod, the volume and the claim (and `tags`).
 */
export function podVolumeBackupRecord(
  input: { backupName: string; backupUid: string; locations: readonly string[] },
  pod: KubeObject,
  volume: string,
  extra: {
    volumeDir?: string;
    claim?: string;
    skipped?: string;
    location?: string;
    name?: string;
    tags?: Record<string, string>;
    movedFrom?: string;
  },
): PodVolumeBackup {
  const namespace = pod.metadata.namespace ?? '';
  const uid = pod.metadata.uid ?? '';
  const status: PodVolumeBackupStatus =
    extra.skipped === undefined ? { phase: 'New' } : { phase: 'Skipped', message: extra.skipped };
  const first = input.locations[0] ?? '';
  const location = extra.location ?? first;
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: 'PodVolumeBackup',
    metadata: {
      name: extra.name ?? podVolumeRecordName(input.backupName, uid, volume, location, first),
      labels: {
        [POD_VOLUME_LABELS.backupName]: input.backupName.slice(0, 63),
        [POD_VOLUME_LABELS.backupUid]: input.backupUid,
        [POD_VOLUME_LABELS.podUid]: uid,
      },
    },
    spec: {
      backupName: input.backupName,
      node: (pod.spec as PodFields | undefined)?.nodeName ?? '',
      pod: { namespace, name: pod.metadata.name, uid },
      volume,
      volumeDir: extra.volumeDir ?? '',
      ...(extra.claim !== undefined ? { persistentVolumeClaim: extra.claim } : {}),
      location,
      repository: namespace,
      ...(extra.movedFrom !== undefined ? { movedFrom: extra.movedFrom } : {}),
      tags: {
        backup: input.backupName,
        'backup-uid': input.backupUid,
        ns: namespace,
        pod: pod.metadata.name,
        volume,
        ...(extra.claim !== undefined ? { pvc: extra.claim } : {}),
        ...extra.tags,
      },
    },
    status,
  };
}

/** The part of a PersistentVolume that places its mount (volumeDirOf), or undefined without one. */
function volumeOf(pv: KubeObject | undefined): { name: string; csi: boolean } | undefined {
  return pv
    ? { name: pv.metadata.name, csi: (pv.spec as { csi?: unknown } | undefined)?.csi !== undefined }
    : undefined;
}

/** The PersistentVolume a claim is bound to, or undefined when it is not bound. */
export async function volumeOfClaim(
  client: KubeClient,
  namespace: string,
  claim: string,
  signal: AbortSignal | undefined,
): Promise<{ name: string; csi: boolean } | undefined> {
  try {
    const pvc = await client.json<{ spec?: { volumeName?: string } }>({
      path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claim}`,
      signal,
    });
    const name = pvc.spec?.volumeName;
    if (!name) return undefined;
    const pv = await client.json<{ spec?: { csi?: unknown } }>({
      path: `/api/v1/persistentvolumes/${name}`,
      signal,
    });
    return { name, csi: pv.spec?.csi !== undefined };
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** The volume policy's matching rule for each of the pod's volumes that one matches. */
async function policyMatchesOf(input: PlanInput, pod: KubeObject): Promise<Map<string, PolicyMatch>> {
  const matches = new Map<string, PolicyMatch>();
  if (!input.policy?.volumePolicies?.length) return matches;
  const namespace = pod.metadata.namespace ?? '';
  for (const volume of (pod.spec as { volumes?: PodVolumeSource[] } | undefined)?.volumes ?? []) {
    const claim = claimOfVolume(pod, volume);
    const facts =
      claim !== undefined && input.reader
        ? await input.reader.facts(namespace, claim)
        : podVolumeFacts(volume);
    const match = matchVolumePolicy(input.policy, facts);
    if (match) matches.set(volume.name, match);
  }
  return matches;
}

/** Decides, for every volume of every pod, what happens to its files. */
export async function planPodVolumeBackups(input: PlanInput): Promise<PodVolumePlan> {
  const plan: PodVolumePlan = { backups: [], skipped: [], warnings: [], decisions: [] };
  const claimed = new Map<string, string>();
  for (const pod of input.pods) {
    const where = `${pod.metadata.namespace ?? ''}/${pod.metadata.name}`;
    const namespace = pod.metadata.namespace ?? '';
    const selection = selectPodVolumes(pod, {
      ...input,
      policyMatches: await policyMatchesOf(input, pod),
    });
    const claimOf = (name: string) => {
      const volume = (pod.spec as { volumes?: PodVolumeSource[] } | undefined)?.volumes?.find(
        (v) => v.name === name,
      );
      return volume ? claimOfVolume(pod, volume) : undefined;
    };
    const decide = (
      volume: string,
      decision: Omit<VolumeDecision, 'namespace' | 'pod' | 'volume' | 'claim'>,
    ) =>
      plan.decisions.push({ namespace, pod: pod.metadata.name, volume, claim: claimOf(volume), ...decision });
    for (const name of selection.unknownNames)
      plan.warnings.push(`pod ${where}: its annotation names volume ${name}, which the pod does not have`);
    for (const skipped of selection.skipped) {
      plan.skipped.push(podVolumeBackupRecord(input, pod, skipped.name, { skipped: skipped.reason }));
      if (!skipped.noUserData)
        decide(skipped.name, {
          action: skipped.snapshot ? 'snapshot' : 'skip',
          chosenBy:
            skipped.chosenBy ?? 'the default: no volume policy rule matched, no pod annotation chose it',
          ...(skipped.snapshot && claimOf(skipped.name) === undefined
            ? { detail: 'not done: the volume has no claim to snapshot' }
            : skipped.snapshot || skipped.chosenBy
              ? {}
              : { detail: skipped.reason }),
        });
    }
    if (selection.chosen.length === 0) continue;
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    const node = (pod.spec as PodFields | undefined)?.nodeName;
    for (const volume of selection.chosen) {
      const skip = (reason: string) => {
        plan.skipped.push(podVolumeBackupRecord(input, pod, volume.name, { skipped: reason }));
        decide(volume.name, {
          action: 'fs-backup',
          chosenBy: volume.chosenBy,
          detail: `not done: ${reason}`,
        });
      };
      if (phase !== 'Running' || !node) {
        skip(
          `the pod is ${phase ?? 'not running'}${node ? '' : ' and on no node'}: its volumes are not mounted`,
        );
        continue;
      }
      let persistentVolume;
      if (volume.claimName !== undefined) {
        const key = `${pod.metadata.namespace ?? ''}/${volume.claimName}`;
        const first = claimed.get(key);
        if (first !== undefined) {
          plan.skipped.push(
            podVolumeBackupRecord(input, pod, volume.name, {
              skipped: `its claim ${volume.claimName} is backed up with pod ${first}`,
            }),
          );
          decide(volume.name, {
            action: 'fs-backup',
            chosenBy: volume.chosenBy,
            detail: `its files, with pod ${first}`,
          });
          continue;
        }
        // Through the reader when there is one: the claim and its volume were read for the policy already.
        persistentVolume = input.reader
          ? volumeOf((await input.reader.read(pod.metadata.namespace ?? '', volume.claimName)).pv)
          : await volumeOfClaim(input.client, pod.metadata.namespace ?? '', volume.claimName, input.signal);
        if (!persistentVolume) {
          skip(`its claim ${volume.claimName} is not bound to a volume`);
          continue;
        }
        claimed.set(key, where);
      }
      decide(volume.name, { action: 'fs-backup', chosenBy: volume.chosenBy });
      for (const location of input.locations)
        plan.backups.push(
          podVolumeBackupRecord(input, pod, volume.name, {
            volumeDir: volumeDirOf(volume, persistentVolume),
            ...(volume.claimName !== undefined ? { claim: volume.claimName } : {}),
            location,
          }),
        );
    }
  }
  return plan;
}

/**
 * The claims ("ns/claim") a pod volume of `plan` chose for file-system backup, with the pod, what chose it
 * and, when its files are not read after all, why: a claim whose files are read is not snapshotted, one
 * whose files are not read may be (snapshotVolumes).
 */
export function fsChosenClaims(plan: PodVolumePlan): Map<string, FsChosenClaim> {
  const claims = new Map<string, FsChosenClaim>();
  for (const d of plan.decisions) {
    if (d.action !== 'fs-backup' || d.claim === undefined) continue;
    const key = `${d.namespace}/${d.claim}`;
    const notDone = d.detail?.startsWith('not done') ? d.detail : undefined;
    const known = claims.get(key);
    // One pod whose volume reads the claim's files is enough.
    if (known && (known.notDone === undefined || notDone !== undefined)) continue;
    claims.set(key, { pod: `${d.namespace}/${d.pod ?? ''}`, chosenBy: d.chosenBy, notDone });
  }
  return claims;
}

/** What a snapshot of the volume records as its path: the same for every backup of the same volume. */
export function snapshotPath(spec: PodVolumeBackup['spec']): string {
  return spec.persistentVolumeClaim !== undefined
    ? `/${spec.pod.namespace}/pvc/${spec.persistentVolumeClaim}`
    : `/${spec.pod.namespace}/pod/${spec.pod.name}/${spec.volume}`;
}

export interface BackUpPodVolumeInput {
  /** The repository of the volume's namespace, open. */
  repo: Repo;
  backup: PodVolumeBackup;
  /** The kubelet's --root-dir on this node. */
  kubeletRoot: string;
  /** This node's name, recorded in the status. */
  node: string;
  now: () => Date;
  onProgress?: ((progress: NonNullable<PodVolumeBackupStatus['progress']>) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Backs up one pod volume's files into the repository, against the volume's last snapshot (so unchanged
 * files are not read again). Resolves with the status to record; a failure is a Failed status with the
 * reason, never a throw (only an abort throws).
 */
export async function backUpPodVolume(input: BackUpPodVolumeInput): Promise<PodVolumeBackupStatus> {
  const { spec } = input.backup;
  const started = input.now();
  const base: PodVolumeBackupStatus = {
    phase: 'InProgress',
    node: input.node,
    startTimestamp: started.toISOString(),
  };
  try {
    const path = await findVolumePath({
      kubeletRoot: input.kubeletRoot,
      podUid: spec.pod.uid,
      volumeDir: spec.volumeDir,
      pod: `${spec.pod.namespace}/${spec.pod.name}`,
      volume: spec.volume,
    });
    const recorded = snapshotPath(spec);
    const [parent] = await findSnapshots(input.repo, {
      paths: [recorded],
      hostname: SNAPSHOT_HOST,
      signal: input.signal,
    });
    const result = await backupDirectory(input.repo, {
      source: path,
      paths: [recorded],
      hostname: SNAPSHOT_HOST,
      tags: Object.entries(spec.tags ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(parent ? { parent: parent.id } : {}),
      excludePaths: [MARKER_DIR],
      onProgress: (p) =>
        input.onProgress?.({
          bytesDone: p.bytesDone,
          filesDone: p.filesDone,
          ...(p.total ? { totalBytes: p.total.bytes, totalFiles: p.total.files } : {}),
        }),
      signal: input.signal,
    });
    const failed = result.errors.length > 0;
    return {
      ...base,
      phase: failed ? 'Failed' : 'Completed',
      ...(failed
        ? {
            message: `${result.errors.length} files could not be read: ${result.errors
              .slice(0, 3)
              .map((e) => `${e.path}: ${e.reason}`)
              .join('; ')}`,
          }
        : {}),
      path,
      snapshotID: result.snapshotId,
      ...(parent ? { parentSnapshotID: parent.id } : {}),
      completionTimestamp: input.now().toISOString(),
      files: result.stats.totalFiles,
      bytes: result.stats.totalBytes,
      bytesUploaded: result.stats.bytesAdded,
    };
  } catch (error) {
    if (input.signal?.aborted) throw error;
    return {
      ...base,
      phase: 'Failed',
      message: (error as Error).message,
      completionTimestamp: input.now().toISOString(),
    };
  }
}

/** This machine's name, for the status of a volume backed up by the CLI itself. */
export const localNodeName = (): string => machineHostname();

/** Why the volume backups were stopped, once `signal` has aborted. */
function stoppedReason(signal: AbortSignal | undefined): string | undefined {
  if (!signal?.aborted) return undefined;
  const reason: unknown = signal.reason;
  return `stopped before it ended: ${reason instanceof Error ? reason.message : String(reason)}`;
}

/**
 * Carries out a backup's pod volume backups and resolves with each one's final record, also when the
 * signal aborts (the unfinished ones then fail with its reason).
 */
export interface PodVolumeBackupRunner {
  /** Who carries them out, for the log: "this process (--node-agent local)". */
  readonly description: string;
  run(
    backups: readonly PodVolumeBackup[],
    options: {
      onProgress?:
        ((progress: { volumesDone: number; volumes: number; bytesDone: number }) => void) | undefined;
      signal?: AbortSignal | undefined;
    },
  ): Promise<PodVolumeBackup[]>;
}

export interface LocalVolumeBackupsOptions {
  /** The repositories of each location the backup writes to, by the location's name. */
  repositories: ReadonlyMap<string, VolumeRepositories>;
  kubeletRoot: string;
  /** This node's name (the pods' node: a single-node cluster, or the node agent's node). */
  node: string;
  /** Volumes backed up at once, across every run under way. Default 2. */
  concurrency?: number | undefined;
  now: () => Date;
}

/**
 * Pod volume backups done by this process, reading the volumes under the kubelet's root: the node agent's
 * work, and `--node-agent local` on a single-node cluster. A volume on another node fails with the reason.
 */
export class LocalVolumeBackups implements PodVolumeBackupRunner {
  readonly description: string;
  readonly #options: LocalVolumeBackupsOptions;
  /** Volumes being backed up, across the runs under way (a backup runs one per pod, several at once). */
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: LocalVolumeBackupsOptions) {
    this.#options = options;
    this.description = `node ${options.node} (kubelet root ${options.kubeletRoot})`;
  }

  async run(
    backups: readonly PodVolumeBackup[],
    options: Parameters<PodVolumeBackupRunner['run']>[1],
  ): Promise<PodVolumeBackup[]> {
    const { repositories, kubeletRoot, node, now } = this.#options;
    const results: PodVolumeBackup[] = backups.map((b) => structuredClone(b));
    const bytes = new Array<number>(results.length).fill(0);
    let done = 0;
    const report = () =>
      options.onProgress?.({
        volumesDone: done,
        volumes: results.length,
        bytesDone: bytes.reduce((a, b) => a + b, 0),
      });
    let next = 0;
    const worker = async () => {
      while (next < results.length) {
        const i = next++;
        const backup = results[i] as PodVolumeBackup;
        const stopped = stoppedReason(options.signal);
        if (stopped !== undefined) {
          backup.status = { phase: 'Failed', message: stopped };
        } else if (backup.spec.node !== node) {
          backup.status = {
            phase: 'Failed',
            message: `the pod is on node ${backup.spec.node}, and this process reads only node ${node}'s volumes`,
          };
        } else {
          await this.#acquire();
          try {
            const ofLocation = repositories.get(backup.spec.location);
            if (!ofLocation)
              throw new Error(`location "${backup.spec.location}" is not one this process writes to`);
            const repo = await ofLocation.repository(backup.spec.repository, {
              create: true,
              signal: options.signal,
            });
            backup.status = await backUpPodVolume({
              repo,
              backup,
              kubeletRoot,
              node,
              now,
              onProgress: (p) => {
                bytes[i] = p.bytesDone ?? 0;
                report();
              },
              signal: options.signal,
            });
          } catch (error) {
            backup.status = {
              phase: 'Failed',
              node,
              message: stoppedReason(options.signal) ?? (error as Error).message,
            };
          } finally {
            this.#release();
          }
        }
        done++;
        report();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency(), results.length) }, worker));
    return results;
  }

  #concurrency(): number {
    return Math.max(1, this.#options.concurrency ?? 2);
  }

  async #acquire(): Promise<void> {
    while (this.#active >= this.#concurrency()) await new Promise<void>((wake) => this.#waiting.push(wake));
    this.#active++;
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}
