// Creating a restore end to end, the same for the CLI's standalone mode and the server's controller:
// validate the spec → find the backup → read its whole archive into a temporary directory (a damaged
// archive stops here, before anything is applied) → compile the filters against the backup and the
// target cluster → run the engine → record the restore (unless it is a dry run).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  backupNameProblem,
  CAIRN_API_VERSION,
  CLUSTER_CONFLICT_POLICIES,
  DEFAULT_CLUSTER_CONFLICT_POLICY,
  DEFAULT_NAMESPACED_CONFLICT_POLICY,
  NAMESPACED_CONFLICT_POLICIES,
  storedLogLine,
  type Backup,
  type NamespacedConflictPolicy,
  type Restore,
  type RestoreSpec,
} from '../api/index.ts';
import { discover, KubeApiError, ResourceMapper, type KubeClient, type KubeObject } from '../kube/index.ts';
import type { BackupStore, RestoreStore } from '../storage/index.ts';
import {
  BackedUpVolumes,
  readPodVolumeBackups,
  readSnapshotRecords,
  releaseRestoreSnapshots,
  RESTORE_WAIT_CONTAINER,
  snapshotForRestore,
  withRestoreWait,
  type PodToFill,
} from '../volumes/index.ts';
import type { HookResult, PodVolumeRestore } from '../api/index.ts';
import { extractBackup, type BackupContents } from './contents.ts';
import {
  runRestoreEngine,
  type PlanEntry,
  type RestoreLogEntry,
  type RestoreOutcome,
  type RestoreProgress,
} from './engine.ts';
import { DEFAULT_HIGH_PRIORITIES, DEFAULT_LOW_PRIORITIES, parsePriorities } from './order.ts';
import {
  describeRestoreHooks,
  restoreHookSpecProblems,
  restoreHooksForPod,
  runRestoreHooks,
} from './hooks.ts';
import { PermissionCheck, type RestorePermissions } from './permissions.ts';
import { parseTransformRules, rulesFromConfigMap, type TransformRule } from './rules.ts';
import { compileRestoreSelection, type RestoreProblem } from './selection.ts';
import { LABELS, unrestorableReason } from '../api/index.ts';
import { locateBackup } from './locate.ts';

/** Labels on every restored object, as Velero adds velero.io/backup-name and velero.io/restore-name. */
export const RESTORE_BACKUP_LABEL = LABELS.backupName;
export const RESTORE_NAME_LABEL = LABELS.restoreName;
/** Schedules label their backups with this (and Velero's with velero.io/schedule-name). */
/** A ConfigMap labelled so holds a storage-class mapping (old: new), like Velero's change-storage-class. */
export const STORAGE_CLASS_CONFIG_LABEL = 'cairn.dev/change-storage-class';

export interface CreateRestoreInput {
  client: KubeClient;
  name: string;
  spec: RestoreSpec;
  /** The location holding the backup. */
  backups: BackupStore;
  /**
   * The backup, when the caller located it already (locateBackup over several locations): it is not
   * looked up again in `backups`.
   */
  backup?: Backup | undefined;
  /**
   * The spec's transformRules, when the caller parsed them already (so that problems name the file they
   * came from): they are not parsed again.
   */
  transformRules?: readonly TransformRule[] | undefined;
  /** Where the restore is recorded; nothing is recorded for a dry run. */
  records: RestoreStore;
  now: () => Date;
  uid: string;
  /** Items of one resource applied at once. Default 16. */
  concurrency?: number | undefined;
  /** The namespace whose labelled ConfigMaps hold storage-class mappings. Default "cairn". */
  configNamespace?: string | undefined;
  onStarted?: ((backup: Backup) => void) | undefined;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  onLog?: ((entry: RestoreLogEntry & { time: string }) => void) | undefined;
  /**
   * The log lines of the steps after the objects (volume files, restore hooks, what waits for pods), as
   * they happen: they can take minutes, and the CLI shows them.
   */
  onStep?: ((entry: RestoreLogEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Where the archive is extracted. Default: the system's temporary directory. */
  tmpDir?: string | undefined;
  /**
   * Who fills restored pods' volumes from the backup's volume data (the node agent, or this process on a
   * single-node cluster), and the image of the restore-wait init container. Absent: a backup's volume
   * files are not restored, and the restore says so.
   */
  podVolumes?:
    | {
        fill: (pods: PodToFill[], restore: { name: string; uid: string }) => Promise<PodVolumeRestore[]>;
        image: string;
        imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never' | undefined;
      }
    | undefined;
  /**
   * The backup's archive, already extracted by the caller (a restore drill reads it too): it is used
   * instead of reading the archive again, and the caller closes it.
   */
  contents?: BackupContents | undefined;
  /**
   * Server mode: write only what the Restore's creator may (objects, namespaces, exec hooks), each
   * refusal an item's error (permissions.ts). Absent: standalone mode, the user's own client.
   */
  permissions?: RestorePermissions | undefined;
}

export interface RestoreRun {
  restore: Restore;
  /** Every item's outcome (a dry run's plan). Empty when the restore failed before applying. */
  plan: PlanEntry[];
  /** The pods created (a dry run: to be created) that have restore hooks, and their hooks. */
  podHooks: RestoreOutcome['podsWithHooks'];
}

/** The spec cannot be run: nothing was applied or recorded. */
export class RestoreValidationError extends Error {
  override readonly name = 'RestoreValidationError';
  readonly problems: RestoreProblem[];
  constructor(problems: RestoreProblem[]) {
    super(
      `the restore spec is invalid: ${problems.map((p) => `${p.field} "${p.value}": ${p.message}`).join('; ')}`,
    );
    this.problems = problems;
  }
}

/** The backup could not be read (missing, unfinished, damaged): nothing was applied. */
export class RestoreSourceError extends Error {
  override readonly name = 'RestoreSourceError';
}

function namespacedPolicyOf(spec: RestoreSpec): NamespacedConflictPolicy {
  if (spec.namespacedConflictPolicy) return spec.namespacedConflictPolicy;
  return spec.existingResourcePolicy === 'update' ? 'update-on-conflict' : DEFAULT_NAMESPACED_CONFLICT_POLICY;
}

function validateSpec(input: CreateRestoreInput): { problems: RestoreProblem[]; rules: TransformRule[] } {
  const { spec } = input;
  const problems: RestoreProblem[] = [];
  const nameProblem = backupNameProblem(input.name);
  if (nameProblem) problems.push({ field: 'name', value: input.name, message: nameProblem });
  if ((spec.backupName === undefined) === (spec.scheduleName === undefined))
    problems.push({
      field: 'backupName',
      value: spec.backupName ?? '',
      message: 'exactly one of backupName (--from-backup) and scheduleName (--from-schedule) is needed',
    });
  if (spec.namespacedConflictPolicy && !NAMESPACED_CONFLICT_POLICIES.includes(spec.namespacedConflictPolicy))
    problems.push({
      field: 'namespacedConflictPolicy',
      value: spec.namespacedConflictPolicy,
      message: `must be one of ${NAMESPACED_CONFLICT_POLICIES.join(', ')}`,
    });
  if (spec.clusterConflictPolicy && !CLUSTER_CONFLICT_POLICIES.includes(spec.clusterConflictPolicy))
    problems.push({
      field: 'clusterConflictPolicy',
      value: spec.clusterConflictPolicy,
      message: `must be one of ${CLUSTER_CONFLICT_POLICIES.join(', ')}`,
    });
  if (spec.existingResourcePolicy && !['none', 'update'].includes(spec.existingResourcePolicy))
    problems.push({
      field: 'existingResourcePolicy',
      value: spec.existingResourcePolicy,
      message: 'must be none or update',
    });
  for (const [from, to] of Object.entries(spec.storageClassMapping ?? {})) {
    if (!from || !to)
      problems.push({ field: 'storageClassMapping', value: `${from}=${to}`, message: 'needs old=new' });
  }
  let rules: TransformRule[] = [];
  if (input.transformRules) rules = [...input.transformRules];
  else if (spec.transformRules !== undefined) {
    try {
      rules = parseTransformRules(spec.transformRules, 'transformRules');
    } catch (error) {
      problems.push({ field: 'transformRules', value: '', message: (error as Error).message });
    }
  }
  problems.push(...restoreHookSpecProblems(spec.hooks?.resources));
  const concurrency = input.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    problems.push({
      field: 'concurrency',
      value: String(concurrency),
      message: 'must be a whole number ≥ 1',
    });
  return { problems, rules };
}

/** Reads ConfigMaps labelled as storage-class mappings in the config namespace; explicit mappings win. */
async function storageClassMapping(
  input: CreateRestoreInput,
  explicit: Record<string, string>,
): Promise<Map<string, string>> {
  const mapping = new Map<string, string>();
  const namespace = input.configNamespace ?? 'cairn';
  try {
    const list = await input.client.json<{ items: KubeObject[] }>({
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`,
      query: { labelSelector: STORAGE_CLASS_CONFIG_LABEL },
      signal: input.signal,
    });
    for (const cm of list.items)
      for (const [from, to] of Object.entries((cm.data as Record<string, string> | undefined) ?? {}))
        mapping.set(from, to);
  } catch (error) {
    // No such namespace, or no right to read it: there is no mapping there.
    if (!(error instanceof KubeApiError) || (error.status !== 404 && error.status !== 403)) throw error;
  }
  for (const [from, to] of Object.entries(explicit)) mapping.set(from, to);
  return mapping;
}

/**
 * Runs a restore. Resolves with the Restore (phase Completed, PartiallyFailed or Failed) and every item's
 * outcome. Rejects with RestoreValidationError or RestoreSourceError having applied nothing.
 */
export async function createRestore(input: CreateRestoreInput): Promise<RestoreRun> {
  const { client, spec, signal } = input;
  const { problems, rules: specRules } = validateSpec(input);
  if (problems.length > 0) throw new RestoreValidationError(problems);
  if (!spec.dryRun && (await input.records.exists(input.name, { signal })))
    throw new RestoreValidationError([
      { field: 'name', value: input.name, message: 'a restore of that name already exists' },
    ]);

  const backup = input.backup ?? (await locateBackup([input.backups], spec, signal))?.backup;
  if (!backup) {
    throw new RestoreValidationError([
      spec.backupName
        ? {
            field: 'backupName',
            value: spec.backupName,
            message: `no such backup in location "${input.backups.location}"`,
          }
        : {
            field: 'scheduleName',
            value: spec.scheduleName ?? '',
            message: `location "${input.backups.location}" has no Completed backup of that schedule`,
          },
    ]);
  }
  const unrestorable = unrestorableReason(backup);
  if (unrestorable)
    throw new RestoreValidationError([
      { field: 'backupName', value: backup.metadata.name, message: unrestorable },
    ]);
  const backupName = backup.metadata.name;
  const resolvedSpec: RestoreSpec = { ...spec, backupName, storageLocation: input.backups.location };

  let mapper = new ResourceMapper((await discover(client, { signal })).resources);
  const rules = [...specRules];
  if (spec.resourceModifier) {
    const ref = spec.resourceModifier;
    const namespace = ref.namespace ?? input.configNamespace ?? 'cairn';
    let cm: KubeObject;
    try {
      cm = await client.json<KubeObject>({
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
        signal,
      });
    } catch (error) {
      throw new RestoreValidationError([
        {
          field: 'resourceModifier',
          value: `${namespace}/${ref.name}`,
          message: `cannot read the ConfigMap: ${error instanceof KubeApiError ? error.detail : String(error)}`,
        },
      ]);
    }
    try {
      rules.push(...rulesFromConfigMap(cm));
    } catch (error) {
      throw new RestoreValidationError([
        { field: 'resourceModifier', value: `${namespace}/${ref.name}`, message: (error as Error).message },
      ]);
    }
  }

  // What this call extracts, it removes at the end; contents the caller gives stay the caller's.
  let owned: { dir: string; contents?: BackupContents } | undefined;
  try {
    let contents = input.contents;
    if (!contents) {
      owned = { dir: await mkdtemp(join(input.tmpDir ?? tmpdir(), 'cairn-restore-')) };
      try {
        const archive = await input.backups.openFile(backupName, 'archive', { signal });
        contents = await extractBackup(archive, { dir: owned.dir, ...(signal ? { signal } : {}) });
        owned.contents = contents;
      } catch (error) {
        throw new RestoreSourceError(
          `backup "${backupName}" in location "${input.backups.location}" cannot be read, so nothing was restored: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
    const compiled = compileRestoreSelection(resolvedSpec, mapper, contents);
    if (!compiled.selection) throw new RestoreValidationError(compiled.problems);
    const started = input.now();
    input.onStarted?.(backup);
    const logLines: string[] = [];
    const hookProblems: { namespace: string; problem: string }[] = [];
    const namespacedPolicy = namespacedPolicyOf(spec);
    const volumeRecords = await readPodVolumeBackups(input.backups, backupName, { signal });
    const volumes = new BackedUpVolumes(volumeRecords);
    // Volumes whose snapshot's data was moved into the repository: their claims are provisioned anew.
    const movedVolumes = new Set(
      volumeRecords.flatMap((r) =>
        r.spec.movedFrom && r.status?.phase === 'Completed' && r.spec.tags?.pv ? [r.spec.tags.pv] : [],
      ),
    );
    const snapshots = await readSnapshotRecords(input.backups, backupName, { signal });
    const snapshotOf = new Map(snapshots.map((r) => [`${r.namespace}/${r.claim}`, r]));
    const madeSnapshots: { namespace: string; claim: string; snapshotName: string }[] = [];
    const fillVolumes = input.podVolumes && spec.dryRun !== true ? input.podVolumes : undefined;
    const outcome: RestoreOutcome = await runRestoreEngine({
      movedVolumes,
      podVolumes: fillVolumes && {
        volumesOf: (namespace, pod) => volumes.of(namespace, pod).map((v) => v.spec.volume),
        wrap: (pod, names) =>
          withRestoreWait(pod, {
            restoreUid: input.uid,
            volumes: names,
            image: fillVolumes.image,
            imagePullPolicy: fillVolumes.imagePullPolicy,
          }),
      },
      podHooks: (pod, sourceNamespace) => {
        const hooks = restoreHooksForPod(pod, sourceNamespace, spec.hooks?.resources);
        for (const problem of hooks.problems)
          hookProblems.push({
            namespace: spec.namespaceMapping?.[sourceNamespace] ?? sourceNamespace,
            problem,
          });
        return hooks.init.length + hooks.exec.length > 0 ? hooks : undefined;
      },
      claimSnapshots:
        snapshots.length > 0
          ? {
              of: (namespace, claim) => snapshotOf.get(`${namespace}/${claim}`),
              volumes: new Set(snapshots.map((r) => r.volume).filter((v) => v !== '')),
              prepare: async (record, namespace, claim) => {
                const snapshotName = await snapshotForRestore(
                  client,
                  record,
                  { namespace, claim, restoreName: input.name, restoreUid: input.uid },
                  signal,
                );
                madeSnapshots.push({ namespace, claim, snapshotName });
                return snapshotName;
              },
            }
          : undefined,
      client,
      mapper,
      rediscover: async () => {
        mapper = new ResourceMapper((await discover(client, { signal })).resources);
        return mapper;
      },
      contents,
      selection: compiled.selection,
      transform: {
        namespaceMapping: new Map(Object.entries(spec.namespaceMapping ?? {})),
        storageClassMapping: await storageClassMapping(input, spec.storageClassMapping ?? {}),
        preserveNodePorts: spec.preserveNodePorts === true,
        restoreLabels: { [RESTORE_BACKUP_LABEL]: backupName, [RESTORE_NAME_LABEL]: input.name },
      },
      rules,
      namespacedPolicy,
      clusterPolicy: spec.clusterConflictPolicy ?? DEFAULT_CLUSTER_CONFLICT_POLICY,
      priorities: spec.resourcePriorities
        ? parsePriorities(spec.resourcePriorities)
        : { high: DEFAULT_HIGH_PRIORITIES, low: DEFAULT_LOW_PRIORITIES },
      dryRun: spec.dryRun === true,
      concurrency: input.concurrency ?? 16,
      onProgress: input.onProgress,
      log: (entry) => {
        const time = input.now().toISOString();
        logLines.push(storedLogLine(time, entry));
        input.onLog?.({ ...entry, time });
      },
      signal,
      permissions: input.permissions,
    });
    const hookLog = (message: string, level: 'info' | 'warning' | 'error' = 'info', namespace?: string) => {
      const entry = { level, message, ...(namespace ? { namespace } : {}) } as const;
      const time = input.now().toISOString();
      logLines.push(storedLogLine(time, entry));
      input.onLog?.({ ...entry, time });
      input.onStep?.(entry);
    };
    for (const { namespace, problem } of hookProblems) outcome.results.warning({ namespace }, problem);
    if (spec.dryRun === true)
      for (const pod of outcome.podsWithHooks)
        hookLog(
          `pod ${pod.namespace}/${pod.name}: would run restore hooks: ${describeRestoreHooks(pod.hooks)}`,
          'info',
          pod.namespace,
        );
    if (madeSnapshots.length > 0) {
      hookLog(`${madeSnapshots.length} claims are made from their CSI snapshots`);
      // The VolumeSnapshots made for them go once the claims are bound (the snapshots stay, the backup's).
      const released = await releaseRestoreSnapshots(client, madeSnapshots, {
        waitMs: 120_000,
        signal,
      }).catch((error: unknown) => ({
        released: 0,
        left: [`the VolumeSnapshots made for the claims were not cleaned up: ${(error as Error).message}`],
      }));
      for (const left of released.left) {
        hookLog(left, 'warning');
        outcome.results.warning('cairn', left);
      }
    }
    const unfilled = new Map<string, string>();
    const volumeOutcome = await restorePodVolumes(input, {
      outcome,
      volumes,
      fill: fillVolumes,
      dryRun: spec.dryRun === true,
      namespaceMapping: spec.namespaceMapping ?? {},
      log: hookLog,
      unfilled,
    });
    const hookResults =
      spec.dryRun === true || outcome.phase === 'Failed' || outcome.podsWithHooks.length === 0
        ? []
        : await runHooksOfPods(input, outcome, unfilled, hookLog);
    const phase =
      outcome.phase === 'Completed' && outcome.results.errorCount > 0 ? 'PartiallyFailed' : outcome.phase;
    const restore: Restore = {
      apiVersion: CAIRN_API_VERSION,
      kind: 'Restore',
      metadata: { name: input.name, uid: input.uid, creationTimestamp: started.toISOString() },
      spec: { ...resolvedSpec, namespacedConflictPolicy: namespacedPolicy },
      status: {
        phase,
        ...(outcome.failureReason !== undefined ? { failureReason: outcome.failureReason } : {}),
        startTimestamp: started.toISOString(),
        completionTimestamp: input.now().toISOString(),
        progress: { totalItems: outcome.progress.totalItems, itemsRestored: outcome.progress.itemsRestored },
        errors: outcome.results.errorCount,
        warnings: outcome.results.warningCount,
        counts: outcome.counts,
        ...(volumeOutcome ? { podVolumeRestores: volumeOutcome } : {}),
        ...(hookResults.length > 0
          ? {
              hookStatus: {
                hooksAttempted: hookResults.filter((h) => h.outcome !== 'NotRun').length,
                hooksFailed: hookResults.filter((h) => h.outcome === 'Failed').length,
              },
            }
          : {}),
      },
    };
    if (!spec.dryRun) {
      await input.records.write(
        restore,
        {
          logs: logLines,
          results: outcome.results.toJSON(),
          resourceList: outcome.resourceList,
          ...(hookResults.length > 0 ? { hooks: hookResults } : {}),
        },
        { signal },
      );
    }
    return { restore, plan: outcome.plan, podHooks: outcome.podsWithHooks };
  } finally {
    if (owned) {
      // close() releases what is still open; the directory goes in any case.
      await owned.contents?.close().catch(() => undefined);
      await rm(owned.dir, { recursive: true, force: true });
    }
  }
}

/**
 * After the objects: the files of the restored pods' volumes, filled by the node agent (or this process),
 * each failure an error in the pod's namespace. A backup's volume files that are not restored (no node
 * agent, a dry run, a pod that was not created) are counted and said in the log.
 */
async function restorePodVolumes(
  input: CreateRestoreInput,
  context: {
    outcome: RestoreOutcome;
    volumes: BackedUpVolumes;
    fill: CreateRestoreInput['podVolumes'];
    dryRun: boolean;
    namespaceMapping: Record<string, string>;
    log: (message: string, level?: 'info' | 'warning' | 'error', namespace?: string) => void;
    /** Filled with the pods (namespace/name) whose volume files were not restored, and why they wait. */
    unfilled: Map<string, string>;
  },
): Promise<NonNullable<Restore['status']>['podVolumeRestores']> {
  const { outcome, volumes, fill, log } = context;
  // The backed-up volumes of the pods this restore took (whatever happened to them).
  const sourceOf = new Map(Object.entries(context.namespaceMapping).map(([from, to]) => [to, from]));
  const selected = outcome.plan
    .filter((e) => e.groupResource === 'pods' && e.namespace !== undefined)
    .flatMap((e) => volumes.of(sourceOf.get(e.namespace ?? '') ?? e.namespace ?? '', e.name));
  if (selected.length === 0) return undefined;
  const toFill: PodToFill[] = outcome.podsWithVolumes.map((pod) => ({
    namespace: pod.namespace,
    name: pod.name,
    volumes: volumes.of(pod.sourceNamespace, pod.name),
  }));
  let records: PodVolumeRestore[] = [];
  if (fill && toFill.length > 0 && outcome.phase !== 'Failed') {
    log(
      `restoring the files of ${toFill.reduce((n, p) => n + p.volumes.length, 0)} volumes of ${toFill.length} pods`,
    );
    records = await fill.fill(toFill, { name: input.name, uid: input.uid });
    for (const record of records) {
      const { pod, volume } = record.spec;
      if (record.status?.phase === 'Completed') {
        log(
          `pod ${pod.namespace}/${pod.name} volume ${volume}: restored from snapshot ${record.spec.snapshotID.slice(0, 8)}`,
          'info',
          pod.namespace,
        );
      } else {
        const reason = `pod ${pod.name} volume ${volume}: its files were not restored: ${record.status?.message ?? 'unknown'}`;
        context.unfilled.set(
          `${pod.namespace}/${pod.name}`,
          `its volume ${volume}'s files were not restored, so it waits in its ${RESTORE_WAIT_CONTAINER} container`,
        );
        outcome.results.error({ namespace: pod.namespace }, reason);
        log(reason, 'error', pod.namespace);
      }
    }
  }
  const notRestored = selected.length - records.length;
  if (notRestored > 0) {
    const why = context.dryRun
      ? 'a dry run'
      : !fill
        ? 'no node agent restores volume files here (use --node-agent local on a single-node cluster)'
        : 'their pods were not created by this restore (they existed, failed or were skipped)';
    const message = `the backup holds the files of ${notRestored} volumes of the restored pods that are not restored: ${why}`;
    if (!context.dryRun) outcome.results.warning('cairn', message);
    log(message, context.dryRun ? 'info' : 'warning');
  }
  const completed = records.filter((r) => r.status?.phase === 'Completed').length;
  return { attempted: records.length, completed, failed: records.length - completed, notRestored };
}

/**
 * After the objects and the volumes' files: the restore hooks of the pods this restore created. A failure
 * is an error when its on-error is Fail (or an init container exited with another code than 0), else a
 * warning, in the pod's namespace.
 */
async function runHooksOfPods(
  input: CreateRestoreInput,
  outcome: RestoreOutcome,
  unfilled: ReadonlyMap<string, string>,
  log: (message: string, level?: 'info' | 'warning' | 'error', namespace?: string) => void,
): Promise<HookResult[]> {
  const count = outcome.podsWithHooks.reduce((n, p) => n + p.hooks.init.length + p.hooks.exec.length, 0);
  log(`running ${count} restore hooks in ${outcome.podsWithHooks.length} pods`);
  const permissions = input.permissions ? new PermissionCheck(input.permissions) : undefined;
  const results = await runRestoreHooks({
    pods: outcome.podsWithHooks.map((pod) => ({
      ...pod,
      cannotStart: unfilled.get(`${pod.namespace}/${pod.name}`),
    })),
    getPod: (namespace, name, signal) =>
      input.client.json<KubeObject>({
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
        signal,
      }),
    exec: async (options) => {
      // A command run in a pod is the creator's as much as the pod is: it needs their pods/exec.
      const refused = await permissions?.refusal(
        { verb: 'create', group: '', resource: 'pods', subresource: 'exec', namespace: options.namespace },
        options.signal,
      );
      if (refused) throw new Error(refused);
      return input.client.exec(options);
    },
    log: (message, level, namespace) => log(message, level, namespace),
    signal: input.signal,
  });
  for (const result of results) {
    const namespace = result.pod.slice(0, result.pod.indexOf('/'));
    const what = `${result.phase === 'init' ? 'init hook container' : 'exec restore hook'} ${result.phase === 'init' ? result.container : JSON.stringify(result.command)} in pod ${result.pod}`;
    if (result.outcome === 'Succeeded') {
      log(`${what}: succeeded`, 'info', namespace);
      continue;
    }
    const message = result.message ?? `${what}: ${result.outcome}`;
    if (result.outcome === 'NotRun') {
      log(message, 'warning', namespace);
      outcome.results.warning({ namespace }, message);
    } else if (
      result.phase === 'init'
        ? result.exitCode !== undefined && result.exitCode !== 0
        : result.onError === 'Fail'
    ) {
      log(message, 'error', namespace);
      outcome.results.error({ namespace }, message);
    } else {
      log(message, 'warning', namespace);
      outcome.results.warning({ namespace }, message);
    }
  }
  return results;
}
