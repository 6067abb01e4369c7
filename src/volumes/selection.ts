// Which of a pod's volumes get a file-system backup, and why the others do not. Velero's rules, with
// Cairn's annotations beside Velero's:
// - opt-in (the default): the volumes the pod's annotation `backup.cairn.dev/backup-volumes` (or
//   `backup.velero.io/backup-volumes`) names, a comma-separated list of pod volume names;
// - opt-out (`defaultVolumesToFsBackup`): every volume except those `backup.cairn.dev/backup-volumes-excludes`
//   (or Velero's) names.
// In both, volumes that hold no user data are skipped with the reason: secret, configMap, projected and
// downwardAPI volumes come back from their API objects, a hostPath volume is the node's files, not the
// pod's. A claim left out of the backup leaves its volume out too. A volume policy's matching rule comes
// before the annotations (as in Velero): fs-backup chooses the volume, snapshot and skip leave it out; only
// the volumes without user data stay out whatever a rule says. Every volume of the pod gets a verdict, and
// a chosen one the rule that chose it, so `describe --details` can say what happened to each and why.
import type { KubeObject } from '../kube/index.ts';
import type { PolicyMatch } from './volume-policy.ts';

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
  /** What chose it: "volume policy rule 1 (...)", "the pod annotation ...", "defaultVolumesToFsBackup". */
  chosenBy: string;
}

export interface SkippedVolume {
  name: string;
  reason: string;
  /** What left it out of file-system backup (a policy rule, an annotation); unset: the default. */
  chosenBy?: string | undefined;
  /** A volume policy rule chose a snapshot of its claim instead. */
  snapshot?: boolean | undefined;
  /** It holds no data of the pod's own (a Secret's, a token): never backed up, never listed. */
  noUserData?: boolean | undefined;
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
  /** The volume policy's matching rule for each of the pod's volumes that one matches, by volume name. */
  policyMatches?: ReadonlyMap<string, PolicyMatch> | undefined;
}

const NO_USER_DATA: readonly [string, string][] = [
  ['secret', 'a secret volume: restored from its Secret'],
  ['configMap', 'a configMap volume: restored from its ConfigMap'],
  ['projected', 'a projected volume: restored from the objects it projects'],
  ['downwardAPI', "a downwardAPI volume: restored from the pod's own fields"],
  ['hostPath', "a hostPath volume: the node's files, not the pod's"],
];

/** The comma-separated names of the first of `keys` present in `annotations`, and that key. */
function listed(
  annotations: Record<string, string>,
  keys: readonly string[],
): { names: string[]; key: string } | undefined {
  for (const key of keys) {
    const value = annotations[key];
    if (value === undefined) continue;
    return {
      key,
      names: value
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    };
  }
  return undefined;
}

/** Decides, for every volume of `pod`, whether its files are backed up and, if not, why. */
export function selectPodVolumes(pod: KubeObject, options: VolumeSelectionOptions): VolumeSelection {
  const spec = pod.spec as { volumes?: PodVolumeSource[] } | undefined;
  const volumes = spec?.volumes ?? [];
  const annotations = pod.metadata.annotations ?? {};
  const included = listed(annotations, BACKUP_VOLUMES_ANNOTATIONS);
  const excluded = listed(annotations, BACKUP_VOLUMES_EXCLUDES_ANNOTATIONS);
  const names = new Set(volumes.map((v) => v.name));
  const unknownNames = [
    ...((options.defaultVolumesToFsBackup ? excluded?.names : included?.names) ?? []),
  ].filter((name) => !names.has(name));

  const chosen: ChosenVolume[] = [];
  const skipped: SkippedVolume[] = [];
  for (const volume of volumes) {
    const skip = (reason: string, extra: Omit<SkippedVolume, 'name' | 'reason'> = {}) =>
      skipped.push({ name: volume.name, reason, ...extra });
    const match = options.policyMatches?.get(volume.name);
    const noData =
      NO_USER_DATA.find(([field]) => volume[field] !== undefined)?.[1] ??
      (volume.name.startsWith('default-token')
        ? 'a service account token volume: the API server makes a new one'
        : undefined);
    const claimName = claimOfVolume(pod, volume);
    let chosenBy: string;
    if (match && noData) {
      // Whatever a rule says: no data of the pod's own (as Velero, which excludes these before its policy).
      skip(noData, { noUserData: true });
      continue;
    } else if (match && claimName !== undefined && !options.claimsIncluded) {
      // Whatever a rule says: the claim is not in the backup.
      skip(`its claim ${claimName} is not in the backup`, { chosenBy: "the backup's resource filters" });
      continue;
    } else if (match) {
      if (match.action !== 'fs-backup') {
        skip(
          match.action === 'skip'
            ? `skipped by ${match.text}`
            : claimName !== undefined
              ? `left to a CSI snapshot of its claim by ${match.text}`
              : `${match.text} chose a snapshot, but the volume has no claim to snapshot: not backed up`,
          { chosenBy: match.text, snapshot: match.action !== 'skip' },
        );
        continue;
      }
      chosenBy = match.text;
    } else if (options.defaultVolumesToFsBackup) {
      if (excluded?.names.includes(volume.name)) {
        skip(`excluded by the pod annotation ${excluded.key}`, {
          chosenBy: `the pod annotation ${excluded.key}`,
        });
        continue;
      }
      chosenBy = 'defaultVolumesToFsBackup';
    } else if (included?.names.includes(volume.name)) {
      chosenBy = `the pod annotation ${included.key}`;
    } else {
      skip(
        'not chosen for file-system backup (annotate the pod backup.cairn.dev/backup-volumes, or back up ' +
          'with --default-volumes-to-fs-backup)',
        { noUserData: noData !== undefined },
      );
      continue;
    }
    if (noData) {
      skip(noData, { noUserData: true });
      continue;
    }
    if (claimName !== undefined && !options.claimsIncluded) {
      skip(`its claim ${claimName} is not in the backup`, { chosenBy: "the backup's resource filters" });
      continue;
    }
    chosen.push({
      name: volume.name,
      ...(claimName !== undefined ? { claimName } : {}),
      ...(volume.csi !== undefined ? { inlineCsi: true } : {}),
      chosenBy,
    });
  }
  return { chosen, skipped, unknownNames };
}

/** The claim a pod volume mounts: its own, or a generic ephemeral volume's (`<pod>-<volume>`). */
export function claimOfVolume(pod: KubeObject, volume: PodVolumeSource): string | undefined {
  return (
    volume.persistentVolumeClaim?.claimName ??
    (volume.ephemeral !== undefined ? `${pod.metadata.name}-${volume.name}` : undefined)
  );
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
export function volumeDirOf(
  volume: Pick<ChosenVolume, 'name' | 'claimName' | 'inlineCsi'>,
  persistentVolume: VolumeOfClaim | undefined,
): string {
  if (volume.claimName !== undefined) {
    if (!persistentVolume)
      throw new Error(`volume ${volume.name}: its claim ${volume.claimName} is not bound`);
    return persistentVolume.csi ? `${persistentVolume.name}/mount` : persistentVolume.name;
  }
  return volume.inlineCsi ? `${volume.name}/mount` : volume.name;
}
