// The backup's volume stage, once its API objects are stored: each backed-up pod's hooks and the files of
// its volumes, the CSI snapshots of its claims (and their data moved, with snapshotMoveData), pod by pod.
import {
  parseGoDuration,
  type BackupSpec,
  type BackupStatus,
  type HookResult,
  type PodVolumeBackup,
  type Results,
  type VolumePolicy,
} from '../api/index.ts';
import type { ExecOptions, KubeClient, KubeObject } from '../kube/index.ts';
import {
  ClaimReader,
  fsChosenClaims,
  MOVED,
  planPodVolumeBackups,
  type PodVolumeBackupRunner,
  type VolumeDecision,
} from '../volumes/index.ts';
import type { BackupOutcome, LogEntry } from './engine.ts';
import { backupHooksForPod, runHooks } from './hooks.ts';
import { ClaimSnapshots, type TakenSnapshot } from './snapshots.ts';

/** How long a backup waits for its pod volume backups unless its spec says (Velero's default). */
export const DEFAULT_FS_BACKUP_TIMEOUT = '4h';

/** What the volume stage reads of createBackup's input. */
export interface PodVolumesInput {
  client: KubeClient;
  name: string;
  uid: string;
  spec: BackupSpec;
  /** The backup's locations, in order: each holds its own copy of the volumes' data. */
  stores: readonly { location: string }[];
  podVolumes?: PodVolumeBackupRunner | undefined;
  moverImage?: string | undefined;
  moverImagePullPolicy?: string | undefined;
  onVolumeProgress?:
    ((progress: { volumesDone: number; volumes: number; bytesDone: number }) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface VolumeOutcome {
  records: PodVolumeBackup[];
  /** Undefined when no pod has volumes to back up or skip. */
  counts: NonNullable<BackupStatus['podVolumeBackups']> | undefined;
  hooks: HookResult[];
  /** The CSI snapshots taken (snapshotVolumes), and how many failed. */
  snapshots: TakenSnapshot[];
  snapshotsFailed: number;
  /** Snapshots whose data was moved into the repositories, and which were then deleted. */
  snapshotsMoved: number;
  /** The snapshot data moves tried, done, failed, and the bytes read. */
  moves: NonNullable<BackupStatus['snapshotDataMoves']> | undefined;
}

/** Pods whose hooks and volumes are taken care of at once. */
const POD_CONCURRENCY = 4;

/**
 * The backed-up pods' hooks and the files of their volumes, pod by pod (a few pods at once): the pod's pre
 * hooks, then its volumes (carried out by the runner, waited for up to the spec's fsBackupTimeout), then
 * its post hooks — run whatever happened before them, so that what a pre hook froze is thawed. A pre hook
 * that fails with on-error Fail leaves the pod's volumes out (Failed, with the hook's message). Failed
 * volumes and hooks are errors in the pod's namespace (the backup is PartiallyFailed); a hook that fails
 * with on-error Continue is a warning. Every volume's record goes into <name>-podvolumebackups.json.gz,
 * every hook's outcome into <name>-hooks.json.gz.
 */
export async function backUpPodVolumes(
  input: PodVolumesInput,
  context: {
    pods: KubeObject[];
    claims: KubeObject[];
    /** Where the CSI snapshots taken go, as they are taken. */
    takenSnapshots: TakenSnapshot[];
    /** Where every volume's decision goes. */
    decisions: VolumeDecision[];
    policy: VolumePolicy | undefined;
    outcome: BackupOutcome;
    results: Results;
    log: (entry: LogEntry) => void;
  },
): Promise<VolumeOutcome | undefined> {
  const { results, log } = context;
  if (input.stores.length === 0) return undefined;
  const reader = new ClaimReader(input.client, input.signal);
  // With a policy, every claim's facts are read (its PersistentVolume): started at once, side by side.
  if (context.policy?.volumePolicies?.length)
    for (const claim of context.claims)
      void reader.read(claim.metadata.namespace ?? '', claim.metadata.name, claim).catch(() => undefined);
  const plan = await planPodVolumeBackups({
    client: input.client,
    pods: context.pods,
    backupName: input.name,
    backupUid: input.uid,
    locations: input.stores.map((store) => store.location),
    defaultVolumesToFsBackup: input.spec.defaultVolumesToFsBackup ?? false,
    claimsIncluded: 'v1/PersistentVolumeClaim' in context.outcome.resourceList,
    policy: context.policy,
    reader,
    signal: input.signal,
  });
  for (const warning of plan.warnings) results.warning('cairn', warning);
  const runner = input.podVolumes;
  if (plan.backups.length > 0 && !runner) {
    for (const backup of plan.backups) {
      backup.status = {
        phase: 'Skipped',
        message:
          'no node agent backs up volume files here (install the server with its node agent, or use ' +
          '--node-agent local on a single-node cluster)',
      };
      results.warning(
        { namespace: backup.spec.pod.namespace },
        `pod ${backup.spec.pod.name} volume ${backup.spec.volume}: ${backup.status.message}`,
      );
    }
    // One record per volume, as for any skipped volume (not one per location).
    const first = input.stores[0]?.location;
    plan.skipped.push(...plan.backups.splice(0).filter((b) => b.spec.location === first));
    for (const decision of plan.decisions)
      if (decision.action === 'fs-backup' && !decision.detail?.startsWith('not done'))
        decision.detail = 'not done: no node agent backs up volume files here';
  }

  const snapshots =
    context.claims.length > 0
      ? await ClaimSnapshots.plan({
          client: input.client,
          spec: input.spec,
          backupName: input.name,
          backupUid: input.uid,
          results,
          log,
          signal: input.signal,
          claims: context.claims,
          pods: context.pods,
          sink: context.takenSnapshots,
          fsChosen: fsChosenClaims(plan),
          policy: context.policy,
          reader,
          move:
            runner && input.moverImage
              ? {
                  runner,
                  locations: input.stores.map((store) => store.location),
                  image: input.moverImage,
                  imagePullPolicy: input.moverImagePullPolicy,
                  timeoutMs: parseGoDuration(input.spec.csiSnapshotTimeout ?? '10m') || 600_000,
                }
              : undefined,
        })
      : undefined;
  if (!(runner && input.moverImage) && snapshots?.decisions.some((d) => d.detail?.endsWith(MOVED)))
    results.warning(
      'cairn',
      'snapshot data movement: no node agent moves snapshot data here (install the server with its node ' +
        'agent, or use --node-agent local on a single-node cluster): the CSI snapshots are kept as they are',
    );
  // Each claim's decision is the claim-level one; a pod volume's stands for volumes without a claim in the
  // backup.
  const decidedClaims = new Set(
    context.claims.map((c) => `${c.metadata.namespace ?? ''}/${c.metadata.name}`),
  );
  context.decisions.push(
    ...plan.decisions.filter((d) => d.claim === undefined || !decidedClaims.has(`${d.namespace}/${d.claim}`)),
    ...(snapshots?.decisions ?? []),
  );

  // Each pod's volumes to back up, and its hooks. A pod that is not running has no container to run them
  // in (a finished Job's, a pending one): its hooks are left out with a warning.
  const work = context.pods
    .map((pod) => {
      const namespace = pod.metadata.namespace ?? '';
      const hooks = backupHooksForPod(pod, input.spec.hooks?.resources);
      const phase = (pod.status as { phase?: string } | undefined)?.phase;
      if (phase !== 'Running' && hooks.pre.length + hooks.post.length > 0) {
        results.warning(
          { namespace },
          `pod ${pod.metadata.name} is ${phase ?? 'not running'}: its ${hooks.pre.length + hooks.post.length} backup hooks were not run`,
        );
        hooks.pre = [];
        hooks.post = [];
      }
      return {
        pod,
        namespace,
        name: pod.metadata.name,
        hooks,
        backups: plan.backups.filter((b) => b.spec.pod.uid === (pod.metadata.uid ?? '')),
      };
    })
    .filter(
      (w) =>
        w.backups.length > 0 ||
        w.hooks.pre.length > 0 ||
        w.hooks.post.length > 0 ||
        (snapshots?.hasClaimsOf(w.pod) ?? false),
    );
  if (work.length === 0 && plan.skipped.length === 0 && (snapshots?.pending ?? 0) === 0) return undefined;

  const timeout = input.spec.fsBackupTimeout ?? DEFAULT_FS_BACKUP_TIMEOUT;
  const timeoutMs = parseGoDuration(timeout) ?? 4 * 3_600_000;
  const expired = AbortSignal.timeout(timeoutMs);
  const signal = input.signal ? AbortSignal.any([input.signal, expired]) : expired;
  if (plan.backups.length > 0 && runner)
    log({
      level: 'info',
      message: `backing up the files of ${plan.backups.length} pod volumes on ${runner.description}`,
    });
  const exec = (options: ExecOptions) => input.client.exec(options);
  const hookResults: HookResult[] = [];
  const done: PodVolumeBackup[] = [];
  const progress = new Map<string, { volumesDone: number; bytesDone: number }>();
  const report = () => {
    let volumesDone = 0;
    let bytesDone = 0;
    for (const p of progress.values()) {
      volumesDone += p.volumesDone;
      bytesDone += p.bytesDone;
    }
    input.onVolumeProgress?.({ volumesDone, volumes: plan.backups.length, bytesDone });
  };
  const hookLog = (result: HookResult) => {
    hookResults.push(result);
    if (result.outcome === 'Succeeded')
      log({
        level: 'info',
        message: `${result.phase} hook ${JSON.stringify(result.command)} in pod ${result.pod} container ${result.container}: exit code 0 after ${result.durationMs ?? 0} ms`,
        namespace: result.pod.split('/')[0] ?? '',
      });
    else if (result.outcome === 'Failed') {
      const namespace = result.pod.split('/')[0] ?? '';
      if (result.onError === 'Fail') results.error({ namespace }, result.message ?? 'a hook failed');
      else results.warning({ namespace }, result.message ?? 'a hook failed');
      log({
        level: result.onError === 'Fail' ? 'error' : 'warning',
        message: result.message ?? '',
        namespace,
      });
    }
  };

  let stopped: Error | undefined;
  const one = async (item: (typeof work)[number]) => {
    const pod = { namespace: item.namespace, name: item.name };
    const key = `${item.namespace}/${item.name}`;
    const pre = await runHooks(exec, pod, item.hooks.pre, input.signal);
    pre.results.forEach(hookLog);
    // Stopped before any pre hook ran: nothing to thaw, nothing read.
    if (item.hooks.pre.length > 0 && pre.results.every((r) => r.outcome === 'NotRun') && !pre.failed) return;
    try {
      if (pre.failed) {
        snapshots?.failForPod(item.pod, `its pod's pre hook failed: ${pre.failed.message ?? ''}`);
        for (const backup of item.backups) {
          backup.status = {
            phase: 'Failed',
            message: `not backed up: its pod's pre hook failed: ${pre.failed.message ?? ''}`,
          };
          done.push(backup);
        }
        progress.set(key, { volumesDone: item.backups.length, bytesDone: 0 });
        report();
      } else {
        // Both settle before the post hooks run (a thaw never comes while a snapshot is being cut).
        const settled = await Promise.allSettled([
          item.backups.length > 0 && runner
            ? runner
                .run(item.backups, {
                  onProgress: (p) => {
                    progress.set(key, { volumesDone: p.volumesDone, bytesDone: p.bytesDone });
                    report();
                  },
                  signal,
                })
                .then((finished) => void done.push(...finished))
            : undefined,
          snapshots?.forPod(item.pod),
        ]);
        for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
      }
    } finally {
      // Thawed whatever happened: no signal but each hook's own timeout (a stopped backup still thaws).
      const post = await runHooks(exec, pod, item.hooks.post);
      post.results.forEach(hookLog);
    }
  };
  // A few pods at once; after a failure or a stop no further pod is started, and every pod started is
  // seen through (its post hooks run) before the outcome is decided.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(POD_CONCURRENCY, work.length) }, async () => {
      while (next < work.length && stopped === undefined && !input.signal?.aborted)
        await one(work[next++] as (typeof work)[number]).catch((error: unknown) => {
          stopped ??=
            error instanceof Error ? error : new Error('a pod’s hooks or volumes failed', { cause: error });
        });
    }),
  );
  if (stopped) throw stopped;
  input.signal?.throwIfAborted();
  // The claims no backed-up pod mounts.
  await snapshots?.rest();
  // snapshotMoveData: each snapshot's data into the repositories, now that every pod's hooks have run.
  done.push(...((await snapshots?.moveData(signal)) ?? []));

  for (const backup of done) {
    const { pod, volume } = backup.spec;
    if (backup.status?.phase === 'Completed') {
      log({
        level: 'info',
        message:
          `pod ${pod.namespace}/${pod.name} volume ${volume}: snapshot ${backup.status.snapshotID?.slice(0, 8)}, ` +
          `${backup.status.files ?? 0} files, ${backup.status.bytes ?? 0} bytes, ${backup.status.bytesUploaded ?? 0} bytes stored anew`,
        namespace: pod.namespace,
      });
      continue;
    }
    // A volume its pre hook left out keeps that reason; one the timeout stopped says so.
    const hookFailed =
      backup.status?.phase === 'Failed' && backup.status.message?.startsWith('not backed up:');
    const message =
      expired.aborted && !hookFailed
        ? `the backup's fsBackupTimeout (${timeout}) passed before the volume was backed up`
        : (backup.status?.message ?? 'it did not end');
    backup.status = { ...backup.status, phase: 'Failed', message };
    results.error({ namespace: pod.namespace }, `pod ${pod.name} volume ${volume}: ${message}`);
  }
  const count = (phase: string) => done.filter((b) => b.status?.phase === phase).length;
  const sum = (field: 'bytes' | 'bytesUploaded') =>
    done.reduce((total, b) => total + (b.status?.[field] ?? 0), 0);
  const anyVolumes = done.length + plan.skipped.length > 0;
  return {
    records: [...done, ...plan.skipped],
    counts: anyVolumes
      ? {
          attempted: done.length,
          completed: count('Completed'),
          failed: count('Failed'),
          skipped: plan.skipped.length,
          bytes: sum('bytes'),
          bytesUploaded: sum('bytesUploaded'),
        }
      : undefined,
    hooks: hookResults,
    snapshots: context.takenSnapshots,
    snapshotsFailed: snapshots?.failed.length ?? 0,
    snapshotsMoved: snapshots?.moved ?? 0,
    moves: snapshots && snapshots.moves.attempted > 0 ? { ...snapshots.moves } : undefined,
  };
}
