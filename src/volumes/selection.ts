// Which of a pod's volumes get a file-system backup, and why the others do not. Velero's rules, with
// Cairn's annotations beside Velero's:
// - opt-in (the default): the volumes the pod's annotation `backup.cairn.dev/backup-volumes` (or
//   `backup.velero.io/backup-volumes`) names, a comma-separated list of pod volume names;
// - opt-out (`defaultVolumesToFsBackup`): every volume except those `backup.cairn.dev/backup-volumes-excludes`
//   (or Velero's) names.
// In both, volumes that hold no user data are skipped with the reason: secret, configMap, projected and
// downwardAPI volumes come back from their API objects, a hostPath volume is the node's files, not the
// pod's. A claim left out of the backup leaves its volume out too. Every volume of the pod gets a verdict,
// so `describe --details` can say what happened to each.
import type { KubeObject } from '../kube/index.ts';

export const BACKUP_VOLUMES_ANNOTATIONS = [
  'backup.cairn.dev/backup-volumes',
  'backup.velero.io/backup-volumes',
];
export const BACKUP_VOLUMES_EXCLUDES_ANNOTATIONS = [
  'backup.cairn.dev/backup-volumes-excludes',
  'backup.velero.io/backup-volumes-excludes',
];

/** The part of a pod volume the selection reads. */
export interface PodVolumeSource {
  name: string;
  persistentVolumeClaim?: { claimName?: string };
  ephemeral?: unknown;
  emptyDir?: unknown;
  csi?: unknown;
  hostPath?: unknown;
  secret?: unknown;
  configMap?: unknown;
  projected?: unknown;
  downwardAPI?: unknown;
  [source: string]: unknown;
}

/** A volume chosen for file-system backup. */
export interface ChosenVolume {
  name: string;
  /** The claim it mounts (a generic ephemeral volume's claim is `<pod>-<volume>`). */
  claimName?: string;
  /** An inline CSI volume: the kubelet mounts it at <volume>/mount. */
  inlineCsi?: boolean;
}

export interface SkippedVolume {
  name: string;
  reason: string;
}

export interface VolumeSelection {
  chosen: ChosenVolume[];
  skipped: SkippedVolume[];
  /** Names the annotations list that the pod has no volume of (worth a warning). */
  unknownNames: string[];
}

export interface VolumeSelectionOptions {
  /** Opt-out mode: every volume with user data unless excluded. */
  defaultVolumesToFsBackup: boolean;
  /** Whether the backup includes PersistentVolumeClaims (false: claim volumes are left out). */
  claimsIncluded: boolean;
}

const NO_USER_DATA: readonly [string, string][] = [
  ['secret', 'a secret volume: restored from its Secret'],
  ['configMap', 'a configMap volume: restored from its ConfigMap'],
  ['projected', 'a projected volume: restored from the objects it projects'],
  ['downwardAPI', "a downwardAPI volume: restored from the pod's own fields"],
  ['hostPath', "a hostPath volume: the node's files, not the pod's"],
];

/** The comma-separated names of the first of `keys` present in `annotations`. */
function listed(annotations: Record<string, string>, keys: readonly string[]): string[] | undefined {
  for (const key of keys) {
    const value = annotations[key];
    if (value === undefined) continue;
    return value
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '');
  }
  return undefined;
}

/** Decides, for every volume of `pod`, whether its files are backed up and, if not, why. */
export function selectPodVolumes(pod: KubeObject, options: VolumeSelectionOptions): VolumeSelection {
  const spec = pod.spec as { volumes?: PodVolumeSource[] } | undefined;
  const volumes = spec?.volumes ?? [];
  const annotations = pod.metadata.annotations ?? {};
  const included = listed(annotations, BACKUP_VOLUMES_ANNOTATIONS);
  const excluded = listed(annotations, BACKUP_VOLUMES_EXCLUDES_ANNOTATIONS) ?? [];
  const names = new Set(volumes.map((v) => v.name));
  const unknownNames = [...(options.defaultVolumesToFsBackup ? excluded : (included ?? []))].filter(
    (name) => !names.has(name),
  );

  const chosen: ChosenVolume[] = [];
  const skipped: SkippedVolume[] = [];
  for (const volume of volumes) {
    const skip = (reason: string) => skipped.push({ name: volume.name, reason });
    if (options.defaultVolumesToFsBackup) {
      if (excluded.includes(volume.name)) {
        skip('excluded by the pod annotation backup-volumes-excludes');
        continue;
      }
    } else if (!included?.includes(volume.name)) {
      skip(
        'not chosen for file-system backup (annotate the pod backup.cairn.dev/backup-volumes, or back up ' +
          'with --default-volumes-to-fs-backup)',
      );
      continue;
    }
    const noData = NO_USER_DATA.find(([field]) => volume[field] !== undefined);
    if (noData) {
      skip(noData[1]);
      continue;
    }
    if (volume.name.startsWith('default-token')) {
      skip('a service account token volume: the API server makes a new one');
      continue;
    }
    const claimName =
      volume.persistentVolumeClaim?.claimName ??
      (volume.ephemeral !== undefined ? `${pod.metadata.name}-${volume.name}` : undefined);
    if (claimName !== undefined && !options.claimsIncluded) {
      skip(`its claim ${claimName} is not in the backup`);
      continue;
    }
    chosen.push({
      name: volume.name,
      ...(claimName !== undefined ? { claimName } : {}),
      ...(volume.csi !== undefined ? { inlineCsi: true } : {}),
    });
  }
  return { chosen, skipped, unknownNames };
}

/** The part of a PersistentVolume that places its mount. */
export interface VolumeOfClaim {
  name: string;
  csi: boolean;
}

/**
 * Where the kubelet mounts a chosen volume, under <kubelet root>/pods/<pod uid>/volumes/<plugin>/: the
 * volume's name, or for a claim its PersistentVolume's name; CSI volumes (inline or provisioned) are
 * mounted one level down, at `mount`.
 */
export function volumeDirOf(volume: ChosenVolume, persistentVolume: VolumeOfClaim | undefined): string {
  if (volume.claimName !== undefined) {
    if (!persistentVolume)
      throw new Error(`volume ${volume.name}: its claim ${volume.claimName} is not bound`);
    return persistentVolume.csi ? `${persistentVolume.name}/mount` : persistentVolume.name;
  }
  return volume.inlineCsi ? `${volume.name}/mount` : volume.name;
}
