// `backup create --dry-run`: what a backup would do in the selected pods, read from the live cluster and
// written nowhere. For each selected pod: the backup hooks that would run (annotations and the spec's hook
// sets, read exactly as a backup reads them) and every annotation that would not run as written; whether
// they would run (a pod that is not running has no container to run them in); and each volume's fate,
// decided as the backup decides it (file-system backup, a CSI snapshot, or skipped), with what chose it,
// also for the claims no selected pod mounts. The spec is validated as a backup validates it.
import { discover, listItems, ResourceMapper, type KubeClient, type KubeObject } from '../kube/index.ts';
import {
  backupVolumePolicy,
  ClaimReader,
  decideClaims,
  claimOfVolume,
  fsChosenClaims,
  policySnapshots,
  labelledSnapshotClasses,
  MOVED,
  planPodVolumeBackups,
  snapshotsAskedFor,
  VolumePolicyError,
  type PodVolumeSource,
  type VolumeAction,
  type VolumeDecision,
} from '../volumes/index.ts';
import type { BackupSpec, VolumePolicy } from '../api/index.ts';
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
  /** Each of its volumes with data of its own: the action, what chose it, and more about it. */
  volumes: PlannedVolume[];
  /** Hook annotations that would not run as written, each naming the annotation and value. */
  problems: string[];
}

/** A pod volume's fate: its action (its claim's, for a claim volume), what chose it, and more. */
export interface PlannedVolume {
  volume: string;
  claim?: string;
  action: VolumeAction;
  chosenBy: string;
  detail?: string;
}

export interface BackupDryRun {
  /** The selected pods that have hooks, volumes with data of their own, or hook problems. */
  pods: BackupPodPlan[];
  /** The backed-up claims no selected pod mounts: each one's action and what chose it. */
  claims: VolumeDecision[];
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
  /** Cairn's namespace, where a resourcePolicy's ConfigMap is read. Default: cairn. */
  namespace?: string | undefined;
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
  const pods = new Map<string, KubeObject>();
  if (podResource)
    for (const labelSelector of selection.labelSelectors)
      for await (const pod of listItems(client, podResource, { labelSelector, signal }))
        if (selection.namespaceSelected(pod.metadata.namespace ?? ''))
          pods.set(pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`, pod);

  const selected = [...pods.values()];
  const claimsIncluded = selection.namespaced.some((r) => r.groupResource === 'persistentvolumeclaims');
  const reader = new ClaimReader(client, signal);
  // The claims the backup would store, each decided, mounted by a selected pod or not: those selected
  // (namespace and labels), and each selected pod's claims, which the backup takes along by name.
  const claims = new Map<string, KubeObject>();
  const claimResource = selection.namespaced.find((r) => r.groupResource === 'persistentvolumeclaims');
  if (claimResource) {
    for (const labelSelector of selection.labelSelectors)
      for await (const claim of listItems(client, claimResource, { labelSelector, signal }))
        if (selection.namespaceSelected(claim.metadata.namespace ?? ''))
          claims.set(`${claim.metadata.namespace ?? ''}/${claim.metadata.name}`, claim);
    for (const pod of selected) {
      const namespace = pod.metadata.namespace ?? '';
      for (const volume of (pod.spec as { volumes?: PodVolumeSource[] } | undefined)?.volumes ?? []) {
        const name = claimOfVolume(pod, volume);
        if (name === undefined || claims.has(`${namespace}/${name}`)) continue;
        const { claim } = await reader.read(namespace, name);
        if (claim) claims.set(`${namespace}/${name}`, claim);
      }
    }
  }
  let policy: VolumePolicy | undefined;
  try {
    policy = await backupVolumePolicy(client, spec, input.namespace ?? 'cairn', signal);
  } catch (error) {
    if (!(error instanceof VolumePolicyError)) throw error;
    throw new BackupValidationError([
      { field: 'resourcePolicy', value: spec.resourcePolicy?.name ?? '', message: error.message },
    ]);
  }
  const volumePlan = await planPodVolumeBackups({
    client,
    pods: selected,
    backupName: input.name,
    backupUid: 'dry-run',
    locations: input.locations.slice(0, 1),
    defaultVolumesToFsBackup: spec.defaultVolumesToFsBackup ?? false,
    claimsIncluded,
    policy,
    reader,
    signal,
  });
  if (!input.nodeAgent) {
    for (const decision of volumePlan.decisions)
      if (decision.action === 'fs-backup' && !decision.detail?.startsWith('not done'))
        decision.detail =
          'not done: no node agent backs up volume files here (--node-agent local, or the server)';
    volumePlan.backups = [];
  }
  const classes =
    policySnapshots(policy) || snapshotsAskedFor(spec).snapshotVolumes
      ? await labelledSnapshotClasses(client, signal)
      : new Map<string, string>();
  for (const [driver, className] of Object.entries(spec.csiSnapshotClasses ?? {}))
    classes.set(driver, className);
  const decided = await decideClaims({
    client,
    reader,
    claims: [...claims.values()],
    fsChosen: fsChosenClaims(volumePlan),
    policy,
    ...snapshotsAskedFor(spec),
    snapshotMoveData: spec.snapshotMoveData === true,
    classes,
    signal,
  });
  // As the backup decides: moved through a selected running pod that mounts the claim, by a node agent.
  const mountedByRunningPod = (namespace: string, claim: string) =>
    selected.some(
      (pod) =>
        (pod.metadata.namespace ?? '') === namespace &&
        (pod.status as { phase?: string } | undefined)?.phase === 'Running' &&
        ((pod.spec as { volumes?: PodVolumeSource[] } | undefined)?.volumes ?? []).some(
          (v) => claimOfVolume(pod, v) === claim,
        ),
    );
  for (const decision of decided.decisions) {
    if (!decision.detail?.endsWith(MOVED)) continue;
    const claim = claims.get(`${decision.namespace}/${decision.claim ?? ''}`);
    const kept = !input.nodeAgent
      ? 'kept as a CSI snapshot: no node agent moves data here'
      : (claim?.spec as { volumeMode?: string } | undefined)?.volumeMode === 'Block'
        ? 'kept as a CSI snapshot: a block-mode claim has no files to move'
        : !mountedByRunningPod(decision.namespace, decision.claim ?? '')
          ? 'kept as a CSI snapshot: no backed-up running pod mounts the claim, to restore moved data through'
          : undefined;
    if (kept) decision.detail = decision.detail.replace(MOVED, kept);
  }
  const claimDecisions = new Map(decided.decisions.map((d) => [`${d.namespace}/${d.claim ?? ''}`, d]));
  const warnings = [...volumePlan.warnings, ...decided.warnings.map((w) => `${w.namespace}: ${w.message}`)];
  // A claim two pods mount is listed with the first (the one whose volume decides it).
  const listedClaims = new Set<string>();
  const plans: BackupPodPlan[] = [];
  for (const pod of selected) {
    const hooks = backupHooksForPod(pod, spec.hooks?.resources);
    const phase = (pod.status as { phase?: string } | undefined)?.phase ?? 'Unknown';
    const namespace = pod.metadata.namespace ?? '';
    const volumes: PlannedVolume[] = [];
    for (const decision of volumePlan.decisions) {
      if (decision.namespace !== namespace || decision.pod !== pod.metadata.name) continue;
      const claimKey = `${namespace}/${decision.claim ?? ''}`;
      const claimDecision = decision.claim !== undefined ? claimDecisions.get(claimKey) : undefined;
      if (claimDecision && listedClaims.has(claimKey)) continue;
      if (claimDecision) listedClaims.add(claimKey);
      const chosen = claimDecision ?? decision;
      volumes.push({
        volume: decision.volume ?? '',
        ...(decision.claim !== undefined ? { claim: decision.claim } : {}),
        action: chosen.action,
        chosenBy: chosen.chosenBy,
        ...(chosen.detail !== undefined ? { detail: chosen.detail } : {}),
      });
    }
    const hookCount = hooks.pre.length + hooks.post.length;
    if (hookCount === 0 && volumes.length === 0 && hooks.problems.length === 0) continue;
    plans.push({
      namespace,
      name: pod.metadata.name,
      phase,
      pre: hooks.pre,
      post: hooks.post,
      ...(hookCount > 0 && phase !== 'Running'
        ? { hooksNotRun: `the pod is ${phase}: it has no running container to run them in` }
        : {}),
      volumes,
      problems: hooks.problems,
    });
  }
  plans.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  const otherClaims = decided.decisions.filter((d) => !listedClaims.has(`${d.namespace}/${d.claim ?? ''}`));
  return { pods: plans, claims: otherClaims, podsSelected: selected.length, warnings };
}
