// `backup create --dry-run`: what a backup would do in the selected pods, read from the live cluster and
// written nowhere. For each selected pod: the backup hooks that would run (annotations and the spec's hook
// sets, read exactly as a backup reads them) and every annotation that would not run as written; whether
// they would run (a pod that is not running has no container to run them in); and each volume's fate
// (file-system backup, or skipped and why). The spec is validated as a backup validates it.
import { discover, listItems, ResourceMapper, type KubeClient, type KubeObject } from '../kube/index.ts';
import {
  BACKUP_VOLUMES_ANNOTATIONS,
  labelledSnapshotClasses,
  planPodVolumeBackups,
  snapshotTarget,
} from '../volumes/index.ts';
import type { BackupSpec } from '../api/index.ts';
import { BackupValidationError, validateBackupInput } from './create.ts';
import { backupHooksForPod, hookSpecProblems, type PodExecHook } from './hooks.ts';
import { compileSelection } from './selection.ts';

export interface BackupPodPlan {
  namespace: string;
  name: string;
  /** The pod's phase: hooks run only in a Running pod. */
  phase: string;
  pre: PodExecHook[];
  post: PodExecHook[];
  /** Why the hooks above would not run, when they would not. */
  hooksNotRun?: string | undefined;
  /**
   * The volumes whose files would be backed up, and those its annotation names that would be skipped
   * (with the reason); the others (not chosen, a token, a ConfigMap's) are only counted.
   */
  volumes: { volume: string; action: 'backup' | 'snapshot' | 'skip'; reason?: string | undefined }[];
  /** Volumes left out that nothing asked for. */
  otherVolumes: number;
  /** Hook annotations that would not run as written, each naming the annotation and value. */
  problems: string[];
}

export interface BackupDryRun {
  /** The selected pods that have hooks, volumes to back up or skip, or hook problems. */
  pods: BackupPodPlan[];
  /** Selected pods in all. */
  podsSelected: number;
  warnings: string[];
}

export interface PlanBackupInput {
  client: KubeClient;
  name: string;
  spec: BackupSpec;
  /** The backup's locations, by name. */
  locations: readonly string[];
  /** Whether a node agent would back up volume files (else they would be skipped). */
  nodeAgent: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * The pod part of a backup, planned against the live cluster: nothing is run or written. Rejects with
 * BackupValidationError for a spec that a backup would refuse.
 */
export async function planBackup(input: PlanBackupInput): Promise<BackupDryRun> {
  const { client, spec, signal } = input;
  const problems = validateBackupInput({
    name: input.name,
    spec,
    stores: input.locations.map((location) => ({ location })),
  });
  const mapper = new ResourceMapper((await discover(client, { signal })).resources);
  const { selection, problems: selectionProblems } = compileSelection(spec, mapper);
  problems.push(...selectionProblems, ...hookSpecProblems(spec.hooks?.resources));
  if (problems.length > 0 || !selection) throw new BackupValidationError(problems);

  const podResource = selection.namespaced.find((r) => r.groupResource === 'pods');
  if (!podResource) return { pods: [], podsSelected: 0, warnings: [] };
  const pods = new Map<string, KubeObject>();
  for (const labelSelector of selection.labelSelectors)
    for await (const pod of listItems(client, podResource, { labelSelector, signal }))
      if (selection.namespaceSelected(pod.metadata.namespace ?? ''))
        pods.set(pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`, pod);

  const selected = [...pods.values()];
  const volumePlan = await planPodVolumeBackups({
    client,
    pods: selected,
    backupName: input.name,
    backupUid: 'dry-run',
    locations: input.locations.slice(0, 1),
    defaultVolumesToFsBackup: spec.defaultVolumesToFsBackup ?? false,
    claimsIncluded: selection.namespaced.some((r) => r.groupResource === 'persistentvolumeclaims'),
    signal,
  });
  // With snapshotVolumes, each claim a pod mounts whose files are not backed up: its snapshot, or why not.
  const snapshotOf = new Map<string, { volume: string; action: 'snapshot' | 'skip'; reason: string }>();
  const claimsIncluded = selection.namespaced.some((r) => r.groupResource === 'persistentvolumeclaims');
  if (spec.snapshotVolumes === true && claimsIncluded) {
    const classes = await labelledSnapshotClasses(client, signal);
    for (const [driver, className] of Object.entries(spec.csiSnapshotClasses ?? {}))
      classes.set(driver, className);
    const fsBackedUp = new Set(volumePlan.backups.map((b) => `${b.spec.pod.uid}/${b.spec.volume}`));
    const snapshotTakers = new Map<string, string>();
    for (const pod of selected)
      for (const volume of (
        pod.spec as { volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] }
      ).volumes ?? []) {
        const claimName = volume.persistentVolumeClaim?.claimName;
        if (!claimName || (input.nodeAgent && fsBackedUp.has(`${pod.metadata.uid ?? ''}/${volume.name}`)))
          continue;
        const namespace = pod.metadata.namespace ?? '';
        let claim: KubeObject;
        try {
          claim = await client.json<KubeObject>({
            path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims/${encodeURIComponent(claimName)}`,
            signal,
          });
        } catch (error) {
          snapshotOf.set(`${pod.metadata.uid ?? ''}/${volume.name}`, {
            volume: volume.name,
            action: 'skip',
            reason: `not snapshotted: its claim ${claimName} cannot be read: ${(error as Error).message}`,
          });
          continue;
        }
        const claimKey = `${namespace}/${claimName}`;
        const taker = snapshotTakers.get(claimKey);
        if (taker !== undefined) {
          // A claim two pods mount is snapshotted once, with the first pod (as the backup does).
          snapshotOf.set(`${pod.metadata.uid ?? ''}/${volume.name}`, {
            volume: volume.name,
            action: 'skip',
            reason: `its claim ${claimName} is snapshotted with pod ${taker}`,
          });
          continue;
        }
        snapshotTakers.set(claimKey, pod.metadata.name);
        const target = await snapshotTarget(client, claim, classes, signal);
        snapshotOf.set(
          `${pod.metadata.uid ?? ''}/${volume.name}`,
          'skipped' in target
            ? { volume: volume.name, action: 'skip', reason: `not snapshotted: ${target.skipped}` }
            : {
                volume: volume.name,
                action: 'snapshot',
                reason: `a CSI snapshot of claim ${claimName} (driver ${target.driver}, class ${target.className})`,
              },
        );
      }
  }
  const plans: BackupPodPlan[] = [];
  for (const pod of selected) {
    const hooks = backupHooksForPod(pod, spec.hooks?.resources);
    const phase = (pod.status as { phase?: string } | undefined)?.phase ?? 'Unknown';
    const uid = pod.metadata.uid ?? '';
    const annotations = pod.metadata.annotations ?? {};
    const named = new Set(
      BACKUP_VOLUMES_ANNOTATIONS.flatMap((key) => (annotations[key] ?? '').split(',').map((n) => n.trim())),
    );
    const snapshotted = [...snapshotOf.entries()].filter(([k]) => k.startsWith(`${uid}/`)).map(([, v]) => v);
    const snapshottedNames = new Set(snapshotted.map((v) => v.volume));
    const skipped = volumePlan.skipped.filter(
      (b) => b.spec.pod.uid === uid && !snapshottedNames.has(b.spec.volume),
    );
    const volumes = [
      ...volumePlan.backups
        .filter((b) => b.spec.pod.uid === uid && !snapshottedNames.has(b.spec.volume))
        .map((b) =>
          input.nodeAgent
            ? { volume: b.spec.volume, action: 'backup' as const }
            : {
                volume: b.spec.volume,
                action: 'skip' as const,
                reason: 'no node agent backs up volume files here (--node-agent local, or the server)',
              },
        ),
      ...skipped
        .filter((b) => named.has(b.spec.volume))
        .map((b) => ({ volume: b.spec.volume, action: 'skip' as const, reason: b.status?.message })),
      ...snapshotted,
    ];
    const hookCount = hooks.pre.length + hooks.post.length;
    if (hookCount === 0 && volumes.length === 0 && hooks.problems.length === 0) continue;
    plans.push({
      namespace: pod.metadata.namespace ?? '',
      name: pod.metadata.name,
      phase,
      pre: hooks.pre,
      post: hooks.post,
      ...(hookCount > 0 && phase !== 'Running'
        ? { hooksNotRun: `the pod is ${phase}: it has no running container to run them in` }
        : {}),
      volumes,
      otherVolumes: skipped.filter((b) => !named.has(b.spec.volume)).length,
      problems: hooks.problems,
    });
  }
  plans.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return { pods: plans, podsSelected: selected.length, warnings: volumePlan.warnings };
}
