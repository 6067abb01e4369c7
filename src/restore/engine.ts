// The restore engine: applies a backup's extracted contents to a cluster, resource by resource in restore
// order, items of one resource concurrently, each with the conflict policy of its scope. With dryRun it
// computes the same decisions against the live cluster and changes nothing. It knows nothing of
// locations, the CLI or controllers: it takes plain values, reports progress through a callback, and
// returns every per-item outcome as data (docs/restore.md).
import {
  Results,
  scopeOf,
  type ClusterConflictPolicy,
  type NamespacedConflictPolicy,
  type RestoreCounts,
} from '../api/index.ts';
import {
  collectionPath,
  KubeApiError,
  type ApiResource,
  type KubeClient,
  type KubeObject,
  type ResourceMapper,
} from '../kube/index.ts';
import type { BackupContents, ContentItem } from './contents.ts';
import { decide } from './decide.ts';
import { withInitHooks, type PodRestoreHooks } from './hooks.ts';
import { claimFromSnapshot, type CsiSnapshotRecord } from '../volumes/index.ts';
import { formatDiff, type DiffEntry } from './diff.ts';
import { restoreOrder, type Priorities } from './order.ts';
import { forEachBounded } from './pool.ts';
import {
  CLUSTER_ROLES,
  clusterRoleKeptByTarget,
  NAMING_RELATED,
  PVS,
  RELATED_KINDS,
  relatedItems,
  type RelatedItem,
} from './related.ts';
import { applyTransformRules, type TransformRule } from './rules.ts';
import type { RestoreSelection } from './selection.ts';
import { controllerOf, prepareForRestore, type TransformOptions } from './transform.ts';

/** What happened to an item (in a dry run: what would happen). */
export type ItemOutcome =
  | 'created'
  | 'updated'
  /** Deleted and created again: fields the API will not change in place differed (decide.ts). */
  | 'recreated'
  | 'unchanged'
  | 'skipped'
  | 'failed'
  | 'deleted';

export interface PlanEntry {
  outcome: ItemOutcome;
  groupResource: string;
  /** The target namespace. */
  namespace?: string;
  name: string;
  reason?: string;
  /** Where the live object differs from the backup's (conflicts, updates). */
  diff?: DiffEntry[];
}

export interface RestoreProgress {
  itemsRestored: number;
  totalItems: number;
  currentResource?: string;
}

export interface RestoreLogEntry {
  level: 'info' | 'warning' | 'error';
  message: string;
  namespace?: string;
}

export interface RestoreEngineInput {
  client: KubeClient;
  /** Discovery of the target cluster; refreshed (through `rediscover`) after definitions are restored. */
  mapper: ResourceMapper;
  rediscover: () => Promise<ResourceMapper>;
  contents: BackupContents;
  selection: RestoreSelection;
  transform: TransformOptions;
  rules: readonly TransformRule[];
  namespacedPolicy: NamespacedConflictPolicy;
  clusterPolicy: ClusterConflictPolicy;
  priorities: Priorities;
  dryRun: boolean;
  /** Items of one resource applied at once. */
  concurrency: number;
  onProgress?: ((progress: RestoreProgress) => void) | undefined;
  log?: ((entry: RestoreLogEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  /** The clock deadlines are measured on, in milliseconds. Default Date.now. */
  now?: (() => number) | undefined;
  /**
   * How long a restored definition may take to be Established, a deleted namespace to go, and an object
   * deleted to be created again (decide.ts) to go.
   */
  /**
   * Pods whose volumes' files are restored from the backup: such a pod is restored even when its
   * controller is (the restored controller adopts it), wrapped (the restore-wait init container) so that
   * it starts once its volumes are filled. Keyed by the pod's namespace and name in the backup.
   */
  podVolumes?:
    | {
        volumesOf: (sourceNamespace: string, pod: string) => readonly string[];
        wrap: (pod: KubeObject, volumes: readonly string[]) => KubeObject;
      }
    | undefined;
  /**
   * The restore hooks of a pod, as backed up in its backed-up namespace (none: undefined). A pod with
   * hooks is restored even when its controller is (so that its hooks run), with its init hooks added.
   */
  podHooks?: ((pod: KubeObject, sourceNamespace: string) => PodRestoreHooks | undefined) | undefined;
  /**
   * Claims restored from their CSI snapshots: the record of a claim (by its backed-up namespace and
   * name), and making the VolumeSnapshot it is restored from in the target namespace (not in a dry run).
   * Their backed-up volumes are not restored: the claim gets a new one, made from the snapshot.
   */
  /**
   * The backed-up PersistentVolumes whose data was moved into the repository (snapshotMoveData): not
   * restored, whatever their reclaim policy; their claims are provisioned anew and filled from the
   * repository through the pods that mount them.
   */
  movedVolumes?: ReadonlySet<string> | undefined;
  claimSnapshots?:
    | {
        of: (sourceNamespace: string, claim: string) => CsiSnapshotRecord | undefined;
        volumes: ReadonlySet<string>;
        prepare: (record: CsiSnapshotRecord, namespace: string, claim: string) => Promise<string>;
      }
    | undefined;
  timeoutsMs?:
    { definitionEstablished?: number; namespaceDeleted?: number; objectDeleted?: number } | undefined;
}

export interface RestoreOutcome {
  /** Failed: the restore stopped part way (the cluster became unreachable, an abort); see failureReason. */
  phase: 'Completed' | 'PartiallyFailed' | 'Failed';
  failureReason?: string;
  results: Results;
  /** Velero's restore resource list: {"apps/v1/Deployment": ["shop/web(created)"]}. */
  resourceList: Record<string, string[]>;
  counts: RestoreCounts;
  /** Every item's outcome, in the order decided. */
  plan: PlanEntry[];
  progress: { itemsRestored: number; totalItems: number };
  /** Pods created (or recreated) waiting for their volumes' files: where, and where they were backed up. */
  podsWithVolumes: { namespace: string; name: string; sourceNamespace: string; volumes: readonly string[] }[];
  /** Pods created (or recreated) that have restore hooks, and their hooks. */
  podsWithHooks: { namespace: string; name: string; hooks: PodRestoreHooks }[];
}

const CRDS = 'customresourcedefinitions.apiextensions.k8s.io';
const NAMESPACES = 'namespaces';
const PVCS = 'persistentvolumeclaims';
/**
 * Built-in controllers that recreate what they own: a restored Deployment makes its replica sets and
 * pods again, a StatefulSet its pods and revisions, a Service its endpoint slices. What they own (their
 * controller owner reference names them) is left to them, not restored beside them as orphans.
 */
const WORKLOAD_CONTROLLERS = [
  'deployments.apps',
  'replicasets.apps',
  'statefulsets.apps',
  'daemonsets.apps',
  'jobs.batch',
  'cronjobs.batch',
  'services',
];

/** The label the endpoints controller puts on the Endpoints it manages (Kubernetes 1.33 and later). */
const ENDPOINTS_MANAGED_BY = 'endpoints.kubernetes.io/managed-by';
const ENDPOINTS_CONTROLLER = 'endpoint-controller';
const ENDPOINT_SLICES = 'endpointslices.discovery.k8s.io';
/**
 * The label on EndpointSlices a controller manages, and Kubernetes' two: the slices of a Service with a
 * selector (owned by the Service, so also left to a restored Service), and the mirrors of the Endpoints a
 * user wrote (owned by those Endpoints). Slices a user or another controller writes are restored.
 */
const SLICE_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const SLICE_CONTROLLERS: Readonly<Record<string, string>> = {
  'endpointslice-controller.k8s.io': 'endpoint slice controller',
  'endpointslicemirroring-controller.k8s.io': 'endpoint slice mirroring controller',
};

const where = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);
const ownerKey = (kind: string, namespace: string | undefined, name: string) =>
  `${kind}/${namespace ?? ''}/${name}`;
const message = (error: unknown) =>
  error instanceof KubeApiError ? error.detail : error instanceof Error ? error.message : String(error);

/** Leaves out of a Service (`body`, changed) the node ports `live` holds: deleting it frees them. */
function freeNodePorts(body: KubeObject, live: KubeObject): void {
  type Spec = { ports?: { nodePort?: number }[]; healthCheckNodePort?: number };
  const spec = body.spec as Spec | undefined;
  const liveSpec = live.spec as Spec | undefined;
  if (!spec) return;
  const held = new Set((liveSpec?.ports ?? []).map((p) => p.nodePort).filter((p) => p !== undefined));
  for (const port of spec.ports ?? [])
    if (port.nodePort !== undefined && held.has(port.nodePort)) delete port.nodePort;
  if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort === liveSpec?.healthCheckNodePort)
    delete spec.healthCheckNodePort;
}

export async function runRestoreEngine(input: RestoreEngineInput): Promise<RestoreOutcome> {
  const { client, contents, selection, signal, dryRun } = input;
  const sleep = input.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = input.now ?? Date.now;
  let mapper = input.mapper;
  const results = new Results();
  const plan: PlanEntry[] = [];
  const resourceList = new Map<string, string[]>();
  const counts: Required<RestoreCounts> = {
    created: 0,
    updated: 0,
    recreated: 0,
    unchanged: 0,
    skipped: 0,
    failed: 0,
  };
  const progress: RestoreProgress = { itemsRestored: 0, totalItems: 0 };
  const report = () => input.onProgress?.({ ...progress });
  const log = (entry: RestoreLogEntry) => {
    const scope = scopeOf(entry.namespace);
    if (entry.level === 'error') results.error(scope, entry.message);
    if (entry.level === 'warning') results.warning(scope, entry.message);
    input.log?.(entry);
  };

  const podsWithVolumes = new Map<string, RestoreOutcome['podsWithVolumes'][number]>();
  const podsWithHooks = new Map<string, RestoreOutcome['podsWithHooks'][number]>();
  const record = (entry: PlanEntry, listKey: string | undefined) => {
    plan.push(entry);
    if (entry.outcome !== 'deleted') counts[entry.outcome] += 1;
    if (listKey) {
      const names = resourceList.get(listKey) ?? [];
      if (names.length === 0) resourceList.set(listKey, names);
      names.push(`${where(entry.namespace, entry.name)}(${entry.outcome})`);
    }
    if (entry.outcome !== 'deleted') {
      progress.itemsRestored += 1;
      progress.totalItems = Math.max(progress.totalItems, progress.itemsRestored);
      if (progress.itemsRestored % 50 === 0) report();
    }
  };

  // Which items the selection takes, before their own filters: a resource's items are considered when
  // it is selected and, for cluster-scoped ones, restored in full or related to restored items.
  // Volumes, storage classes, cluster roles and definitions also come along as related items when only
  // what needs them was asked for (unless excluded, out of the cluster-resource scope, or cluster-scoped
  // objects are off).
  const order = restoreOrder(contents.resources.keys(), input.priorities).filter(
    (gr) =>
      selection.resourceSelected(gr) ||
      ((RELATED_KINDS.has(gr) || gr === CRDS) && selection.relatedAdmitted(gr)),
  );
  const sourceNamespaces = new Set<string>();
  for (const gr of order) {
    const resource = contents.resources.get(gr);
    if (!resource?.namespaced) continue;
    for (const ns of resource.namespaces) if (selection.namespaceSelected(ns)) sourceNamespaces.add(ns);
  }
  const itemSelected = (item: ContentItem) => {
    if (item.namespace !== undefined && !selection.namespaceSelected(item.namespace)) return false;
    return selection.labelsSelected(item.object.metadata.labels);
  };
  const restoredResources = new Set(
    order.filter((gr) => {
      const resource = contents.resources.get(gr);
      if (!resource) return false;
      if (resource.namespaced) return [...resource.namespaces].some((ns) => sourceNamespaces.has(ns));
      return selection.clusterResourceInFull(gr);
    }),
  );

  // Related cluster-scoped items (related.ts), by group resource: the volumes and storage classes of
  // restored claims, and so on. And the workload controllers being restored, whose pods and replica sets
  // are left to them.
  const related = new Map<string, Set<string>>();
  const relate = (items: readonly RelatedItem[]) => {
    for (const { groupResource, name } of items) {
      const names = related.get(groupResource) ?? new Set<string>();
      if (!related.has(groupResource)) related.set(groupResource, names);
      names.add(name);
    }
  };
  const clusterItemSelected = (gr: string, name: string) => {
    if (selection.clusterResourceInFull(gr)) return true;
    if (!selection.relatedAdmitted(gr)) return false;
    if (gr === CRDS) return restoredResources.has(name);
    return related.get(gr)?.has(name) ?? false;
  };
  const owners = new Set<string>();
  for (const gr of order) {
    const resource = contents.resources.get(gr);
    const names = NAMING_RELATED.has(gr);
    const controls = WORKLOAD_CONTROLLERS.includes(gr);
    if (!resource?.namespaced || (!names && !controls)) continue;
    for await (const item of contents.items(gr, resource.preferredVersion, signal ? { signal } : {})) {
      if (!itemSelected(item)) continue;
      if (names) relate(relatedItems(gr, item.object, input.transform));
      if (controls) owners.add(ownerKey(item.object.kind, item.namespace, item.name));
    }
  }
  // Volumes whose reclaim policy is Delete: their storage went with their claim, so (without volume data in
  // the backup) the volume is not restored and the claim is provisioned anew, as Velero does. The volumes
  // that are restored name their storage classes in turn.
  const reprovisioned = new Set<string>();
  const fromSnapshot = input.claimSnapshots?.volumes ?? new Set<string>();
  const pvContents = contents.resources.get(PVS);
  if (pvContents) {
    for await (const item of contents.items(PVS, pvContents.preferredVersion, signal ? { signal } : {})) {
      const policy = (item.object.spec as { persistentVolumeReclaimPolicy?: string } | undefined)
        ?.persistentVolumeReclaimPolicy;
      if (policy === 'Delete' || input.movedVolumes?.has(item.name)) reprovisioned.add(item.name);
      else if (
        order.includes(PVS) &&
        clusterItemSelected(PVS, item.name) &&
        selection.labelsSelected(item.object.metadata.labels)
      )
        relate(relatedItems(PVS, item.object, input.transform));
    }
  }
  const namespaceObjectSelected = (name: string) => sourceNamespaces.has(name);

  for (const gr of order) {
    const resource = contents.resources.get(gr);
    if (!resource) continue;
    if (resource.namespaced ? [...resource.namespaces].some((ns) => sourceNamespaces.has(ns)) : true)
      progress.totalItems += resource.count;
  }
  report();

  // Target namespaces: created once, from the backed-up Namespace object when there is one.
  const namespaceObjects = new Map<string, KubeObject>();
  const namespaceReady = new Map<string, Promise<string | undefined>>();
  const willExist = new Set<string>();
  const deleting = new Set<string>();

  const namespacesResource = () => mapper.byGroupResource(NAMESPACES);

  async function getLive(resource: ApiResource, namespace: string | undefined, name: string) {
    try {
      return await client.json<KubeObject>({
        path: `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`,
        signal,
      });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Makes sure a target namespace exists and is usable; resolves with a problem, or undefined. */
  function ensureNamespace(target: string): Promise<string | undefined> {
    let ready = namespaceReady.get(target);
    if (!ready) {
      ready = (async () => {
        const nsResource = namespacesResource();
        if (!nsResource) return 'the cluster serves no namespaces';
        if (willExist.has(target)) return undefined;
        const created = () =>
          record(
            {
              outcome: 'created',
              groupResource: NAMESPACES,
              name: target,
              reason: 'the namespace of restored objects',
            },
            'v1/Namespace',
          );
        // What to say of a namespace that exists: usable, or being deleted.
        const existing = (live: KubeObject) => {
          if ((live.status as { phase?: string } | undefined)?.phase === 'Terminating')
            return `namespace ${target} is being deleted (Terminating); restore once it is gone, or map into another namespace`;
          record(
            { outcome: 'unchanged', groupResource: NAMESPACES, name: target, reason: 'the namespace exists' },
            'v1/Namespace',
          );
          return undefined;
        };
        if (dryRun) {
          const live = deleting.has(target) ? undefined : await getLive(nsResource, undefined, target);
          if (live) return existing(live);
          willExist.add(target);
          created();
          return undefined;
        }
        const object: KubeObject = namespaceObjects.get(target) ?? {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: target, labels: { ...input.transform.restoreLabels } },
        };
        // Create first; only a namespace that exists already costs a read.
        try {
          await client.json({ method: 'POST', path: collectionPath(nsResource), body: object, signal });
          created();
          return undefined;
        } catch (error) {
          if (!(error instanceof KubeApiError && error.status === 409))
            return `cannot create namespace ${target}: ${message(error)}`;
        }
        const live = await getLive(nsResource, undefined, target);
        return live
          ? existing(live)
          : `namespace ${target} exists and then does not: it was deleted meanwhile`;
      })();
      namespaceReady.set(target, ready);
    }
    return ready;
  }

  let failure: string | undefined;
  try {
    // delete-and-restore: the target namespaces go first, and the restore waits until they are gone.
    if (input.namespacedPolicy === 'delete-and-restore') {
      const nsResource = namespacesResource();
      const targets = [...sourceNamespaces].map((ns) => selection.targetNamespace(ns));
      for (const target of targets) {
        if (!nsResource || !(await getLive(nsResource, undefined, target))) continue;
        deleting.add(target);
        plan.push({
          outcome: 'deleted',
          groupResource: NAMESPACES,
          name: target,
          reason: 'delete-and-restore',
        });
        log({
          level: 'info',
          message: `deleting namespace ${target} before restoring it (delete-and-restore)`,
        });
        if (dryRun) continue;
        try {
          await client.json({ method: 'DELETE', path: `${collectionPath(nsResource)}/${target}`, signal });
        } catch (error) {
          if (!(error instanceof KubeApiError && error.status === 404)) throw error;
        }
      }
      if (!dryRun && nsResource) {
        const deadline = now() + (input.timeoutsMs?.namespaceDeleted ?? 300_000);
        for (const target of deleting) {
          while (await getLive(nsResource, undefined, target)) {
            signal?.throwIfAborted();
            if (now() > deadline)
              throw new Error(
                `namespace ${target} was not deleted in time (delete-and-restore); nothing was restored`,
              );
            await sleep(250);
          }
        }
      }
    }

    /** Which target resource (served version) an item of `gr` is applied as, or why it cannot be. */
    function targetResource(gr: string): { resource: ApiResource; version: string } | { problem: string } {
      const backupVersions = contents.resources.get(gr)?.versions ?? [];
      const served = mapper.versionsOf(gr);
      for (const version of backupVersions) {
        const match = served.find((r) => r.version === version);
        if (match) return { resource: match, version };
      }
      if (served.length === 0) return { problem: `the target cluster does not serve ${gr}` };
      return {
        problem: `the target cluster serves ${gr} in ${served.map((r) => r.version).join(', ')}, and the backup has it in ${backupVersions.join(', ')} only`,
      };
    }

    const establishedWait: string[] = [];

    async function restoreItem(gr: string, resource: ApiResource, item: ContentItem): Promise<void> {
      const source = item.object;
      const listKey = `${resource.groupVersion}/${resource.kind}`;
      const targetNs = item.namespace === undefined ? undefined : selection.targetNamespace(item.namespace);
      const entry = (outcome: ItemOutcome, extra: Partial<PlanEntry> = {}): PlanEntry => ({
        outcome,
        groupResource: gr,
        ...(targetNs !== undefined ? { namespace: targetNs } : {}),
        name: gr === NAMESPACES ? selection.targetNamespace(item.name) : item.name,
        ...extra,
      });
      const what = `${gr} ${where(targetNs, entry('failed').name)}`;
      const fail = (reason: string, diff?: DiffEntry[]) => {
        log({ level: 'error', message: `${what}: ${reason}`, ...(targetNs ? { namespace: targetNs } : {}) });
        const first = reason.split('\n')[0] ?? reason;
        record(entry('failed', { reason: first, ...(diff ? { diff } : {}) }), listKey);
      };

      // Items that are never restored, or left to their restored controllers.
      if (gr === 'pods') {
        const annotations = source.metadata.annotations ?? {};
        const phase = (source.status as { phase?: string } | undefined)?.phase;
        if (annotations['kubernetes.io/config.mirror'] !== undefined) {
          record(entry('skipped', { reason: 'a mirror pod (the kubelet creates it)' }), listKey);
          return;
        }
        if (phase === 'Succeeded' || phase === 'Failed') {
          record(entry('skipped', { reason: `a finished pod (${phase})` }), listKey);
          return;
        }
      }
      if (gr === PVS && fromSnapshot.has(item.name)) {
        record(
          entry('skipped', { reason: 'its claim is restored from its CSI snapshot, on a new volume' }),
          listKey,
        );
        return;
      }
      if (gr === PVS && input.movedVolumes?.has(item.name)) {
        record(
          entry('skipped', {
            reason:
              'its data was moved into the repository: its claim is provisioned anew and filled from it',
          }),
          listKey,
        );
        return;
      }
      if (gr === PVS && reprovisioned.has(item.name)) {
        record(
          entry('skipped', {
            reason: 'reclaim policy Delete and no volume data in the backup: its claim is provisioned anew',
          }),
          listKey,
        );
        return;
      }
      // A built-in or aggregated ClusterRole is the target's: never brought along for a RoleBinding, and
      // (restored in full) created only where it is missing, never replacing the live one.
      const keptByTarget = gr === CLUSTER_ROLES ? clusterRoleKeptByTarget(source) : undefined;
      if (keptByTarget && !selection.clusterResourceInFull(gr)) {
        record(entry('skipped', { reason: `${keptByTarget}: the target cluster's own is kept` }), listKey);
        return;
      }
      if (gr === 'configmaps' && item.name === 'kube-root-ca.crt') {
        // Every cluster publishes its own CA into every namespace; the backed-up one names the old cluster's.
        record(
          entry('skipped', { reason: "the target cluster publishes its own (its API server's CA)" }),
          listKey,
        );
        return;
      }
      if (gr === 'endpoints' && source.metadata.labels?.[ENDPOINTS_MANAGED_BY] === ENDPOINTS_CONTROLLER) {
        // The endpoints controller writes these for a Service with a selector, from the pods it selects:
        // restored, they would name the old pods' addresses until it rewrites them. Endpoints a user wrote
        // (a Service without a selector) carry no such label and are restored.
        record(
          entry('skipped', { reason: `made by the endpoints controller for Service ${item.name}` }),
          listKey,
        );
        return;
      }
      if (gr === ENDPOINT_SLICES) {
        const manager = source.metadata.labels?.[SLICE_MANAGED_BY];
        const made = manager === undefined ? undefined : SLICE_CONTROLLERS[manager];
        if (made) {
          const service = source.metadata.labels?.['kubernetes.io/service-name'] ?? '?';
          record(entry('skipped', { reason: `made by the ${made} for Service ${service}` }), listKey);
          return;
        }
      }
      const podVolumes =
        gr === 'pods' && item.namespace !== undefined
          ? (input.podVolumes?.volumesOf(item.namespace, item.name) ?? [])
          : [];
      const podHooks =
        gr === 'pods' && item.namespace !== undefined ? input.podHooks?.(source, item.namespace) : undefined;
      if (podVolumes.length === 0 && podHooks === undefined) {
        const owner = controllerOf(source);
        if (owner && owners.has(ownerKey(owner.kind, item.namespace, owner.name))) {
          record(
            entry('skipped', { reason: `left to its controller, ${owner.kind} ${owner.name}` }),
            listKey,
          );
          return;
        }
      }

      if (targetNs !== undefined) {
        const problem = await ensureNamespace(targetNs);
        if (problem) {
          fail(problem);
          return;
        }
      }

      let prepared: { object: KubeObject; status: unknown };
      try {
        prepared = prepareForRestore(gr, source, input.transform);
      } catch (error) {
        fail(`cannot be prepared for restore: ${message(error)}`);
        return;
      }
      let object = prepared.object;
      object.apiVersion = resource.groupVersion;
      if (gr === PVCS) {
        const spec = object.spec as { volumeName?: string } | undefined;
        if (spec?.volumeName && reprovisioned.has(spec.volumeName)) delete spec.volumeName;
      }
      if (input.rules.length > 0) {
        const ruled = applyTransformRules(input.rules, {
          groupResource: gr,
          kind: resource.kind,
          group: resource.group,
          object,
          ...(item.namespace !== undefined ? { sourceNamespace: item.namespace } : {}),
        });
        if ('error' in ruled) {
          fail(`transformation rule "${ruled.error.rule}" does not apply: ${ruled.error.message}`);
          return;
        }
        object = ruled.object;
      }
      // A claim with a CSI snapshot in the backup is made from it, unless it exists in the target (then
      // the conflict policy judges the live claim against the backed-up one, and nothing is made).
      const snapshot =
        gr === PVCS && item.namespace !== undefined
          ? input.claimSnapshots?.of(item.namespace, item.name)
          : undefined;
      if (snapshot && input.claimSnapshots && targetNs !== undefined) {
        const claimPath = `${collectionPath(resource, targetNs)}/${encodeURIComponent(object.metadata.name)}`;
        const exists = (await client.send({ method: 'GET', path: claimPath, signal })).status !== 404;
        if (!exists) {
          let snapshotName = `<made from snapshot ${snapshot.snapshotHandle}>`;
          if (!dryRun) {
            try {
              snapshotName = await input.claimSnapshots.prepare(snapshot, targetNs, object.metadata.name);
            } catch (error) {
              fail(`cannot be restored from its CSI snapshot ${snapshot.snapshotHandle}: ${message(error)}`);
              return;
            }
          }
          object = claimFromSnapshot(object, snapshotName, snapshot.restoreSize);
        }
      }
      if (
        podVolumes.length > 0 &&
        input.podVolumes &&
        targetNs !== undefined &&
        item.namespace !== undefined
      ) {
        object = input.podVolumes.wrap(object, podVolumes);
        podsWithVolumes.set(`${targetNs}/${object.metadata.name}`, {
          namespace: targetNs,
          name: object.metadata.name,
          sourceNamespace: item.namespace,
          volumes: podVolumes,
        });
      }
      if (podHooks && targetNs !== undefined) {
        object = withInitHooks(object, podHooks.init);
        podsWithHooks.set(`${targetNs}/${object.metadata.name}`, {
          namespace: targetNs,
          name: object.metadata.name,
          hooks: podHooks,
        });
      }
      const path = collectionPath(resource, targetNs);
      const name = object.metadata.name;
      const namespaced = targetNs !== undefined;
      const policy = namespaced ? input.namespacedPolicy : input.clusterPolicy;

      const itemPath = `${path}/${encodeURIComponent(name)}`;
      const inNamespace = targetNs ? { namespace: targetNs } : {};

      const restoreStatus = async (applied: KubeObject) => {
        if (!selection.statusRestored(gr) || prepared.status === undefined) return;
        try {
          await client.json({
            method: 'PUT',
            path: `${itemPath}/status`,
            body: { ...applied, status: prepared.status },
            signal,
          });
        } catch (error) {
          log({
            level: 'warning',
            message: `${what}: its status could not be restored: ${message(error)}`,
            ...inNamespace,
          });
        }
      };
      const replace = (live: KubeObject, query?: Record<string, string>): Promise<KubeObject> =>
        client.json<KubeObject>({
          method: 'PUT',
          path: itemPath,
          ...(query ? { query } : {}),
          body: {
            ...object,
            metadata: { ...object.metadata, resourceVersion: live.metadata.resourceVersion },
          },
          signal,
        });
      /** Deletes the live object (only that one: its uid is the precondition) and waits until it is gone. */
      const remove = async (live: KubeObject): Promise<void> => {
        try {
          await client.json({
            method: 'DELETE',
            path: itemPath,
            // What it owns stays (a StatefulSet's pods, a Deployment's replica sets), orphaned: the
            // backup's object adopts what its selector matches.
            body: {
              kind: 'DeleteOptions',
              apiVersion: 'v1',
              propagationPolicy: 'Orphan',
              ...(live.metadata.uid ? { preconditions: { uid: live.metadata.uid } } : {}),
            },
            signal,
          });
        } catch (error) {
          if (!(error instanceof KubeApiError && error.status === 404)) throw error;
        }
        const deadline = now() + (input.timeoutsMs?.objectDeleted ?? 120_000);
        for (;;) {
          const still = await getLive(resource, targetNs, name);
          if (!still || still.metadata.uid !== live.metadata.uid) return;
          if (now() > deadline) {
            const finalizers = still.metadata.finalizers ?? [];
            throw new Error(
              `it was deleted to be created again, and is still there (finalizers: ${finalizers.join(', ') || 'none'})`,
            );
          }
          await sleep(100);
        }
      };

      /**
       * Whether the API server would create the backup's object once the live one is gone: a server-side
       * dry-run create under a generated name (a create of the live name is refused as existing), without
       * the node ports the live object holds (the deletion frees them). Resolves with the refusal, if any.
       */
      const createRefused = async (live: KubeObject): Promise<string | undefined> => {
        // (An empty name is no name: the server generates one.)
        const body = structuredClone(object);
        body.metadata = { ...body.metadata, name: '', generateName: `${name.slice(0, 200)}-` };
        if (gr === 'services') freeNodePorts(body, live);
        try {
          await client.json({ method: 'POST', path, query: { dryRun: 'All' }, body, signal });
          return undefined;
        } catch (error) {
          return message(error);
        }
      };
      /** Creates the deleted live object again as it was, after the backup's could not be created. */
      const putBack = async (live: KubeObject): Promise<string | undefined> => {
        const {
          uid: _uid,
          resourceVersion: _resourceVersion,
          creationTimestamp: _creationTimestamp,
          managedFields: _managedFields,
          deletionTimestamp: _deletionTimestamp,
          deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
          generation: _generation,
          selfLink: _selfLink,
          ...metadata
        } = live.metadata as KubeObject['metadata'] & Record<string, unknown>;
        const { status: _status, ...rest } = live;
        try {
          await client.json({ method: 'POST', path, body: { ...rest, metadata }, signal });
          return undefined;
        } catch (error) {
          return message(error);
        }
      };

      /** Carries out the decision for a live object, or (dry run) records what it would be. */
      const resolve = async (live: KubeObject): Promise<void> => {
        const decision = decide(live, object, {
          groupResource: gr,
          policy: keptByTarget ? 'use-existing-version' : policy,
          transform: input.transform,
        });
        switch (decision.action) {
          case 'unchanged':
            record(entry('unchanged', { reason: 'already exists, same as the backup' }), listKey);
            return;
          case 'skip':
            if (decision.warn)
              log({
                level: 'warning',
                message: `${what} already exists and differs from the backup; the live object was kept`,
                ...inNamespace,
              });
            record(
              entry('skipped', {
                reason: keptByTarget
                  ? `already exists and differs from the backup; ${keptByTarget}: the target cluster's own is kept`
                  : `already exists and differs from the backup (${policy})`,
                diff: decision.diff,
              }),
              listKey,
            );
            return;
          case 'fail':
            fail(`${decision.reason}:\n${formatDiff(decision.diff)}`, decision.diff);
            return;
          case 'update': {
            const diff = decision.diff;
            if (dryRun) {
              // The API server validates the update without storing it: what it refuses, the plan says.
              try {
                await replace(live, { dryRun: 'All' });
                record(entry('updated', { reason: policy, diff }), listKey);
              } catch (error) {
                fail(`would fail: cannot update: ${message(error)}`, diff);
              }
              return;
            }
            try {
              let updated: KubeObject;
              try {
                updated = await replace(live);
              } catch (error) {
                // The object changed between the read and the write: once more on its newest version.
                if (!(error instanceof KubeApiError && error.status === 409)) throw error;
                const fresh = await getLive(resource, targetNs, name);
                if (!fresh) throw error;
                updated = await replace(fresh);
              }
              await restoreStatus(updated);
              record(entry('updated', { reason: policy, diff }), listKey);
            } catch (error) {
              fail(`cannot update: ${message(error)}`, diff);
            }
            return;
          }
          case 'recreate': {
            const diff = decision.diff;
            const reason = `${policy}: ${decision.immutable.join(', ')} cannot change in place, so it is deleted and created again`;
            // Nothing is deleted that the backup's object could not replace (as far as a dry run tells).
            const refused = await createRefused(live);
            if (refused) {
              fail(
                `${dryRun ? 'would fail: ' : ''}cannot recreate: ${decision.immutable.join(', ')} cannot change in place, and the backup's object would be refused: ${refused}`,
                diff,
              );
              return;
            }
            if (dryRun) {
              record(entry('recreated', { reason, diff }), listKey);
              return;
            }
            log({ level: 'info', message: `${what}: ${reason}`, ...inNamespace });
            try {
              await remove(live);
            } catch (error) {
              fail(`cannot recreate: ${message(error)}`, diff);
              return;
            }
            try {
              const created = await client.json<KubeObject>({ method: 'POST', path, body: object, signal });
              await restoreStatus(created);
              record(entry('recreated', { reason, diff }), listKey);
            } catch (error) {
              const notPutBack = await putBack(live);
              fail(
                `was deleted to be created again, and cannot be created: ${message(error)}; ${
                  notPutBack
                    ? `the deleted object could not be created again either: ${notPutBack}`
                    : 'the deleted object was created again as it was'
                }`,
                diff,
              );
            }
            return;
          }
        }
      };

      if (dryRun) {
        const namespaceComing = namespaced && willExist.has(targetNs);
        const namespaceGoing = namespaced && deleting.has(targetNs);
        const live = namespaceComing || namespaceGoing ? undefined : await getLive(resource, targetNs, name);
        if (live) {
          await resolve(live);
          return;
        }
        if (namespaceComing || namespaceGoing) {
          record(entry('created'), listKey);
          return;
        }
        // The API server validates the object (schema, admission) without storing it.
        try {
          await client.json({ method: 'POST', path, query: { dryRun: 'All' }, body: object, signal });
          record(entry('created'), listKey);
        } catch (error) {
          fail(`would fail: ${message(error)}`);
        }
        return;
      }

      // Create first: a restore into an empty namespace costs one request per object. Whatever the create
      // is refused for, an object of that name that exists is then compared and decided on, as in a dry
      // run (an identical Service keeping its node port is refused as "port already allocated", not as
      // "already exists").
      try {
        const created = await client.json<KubeObject>({ method: 'POST', path, body: object, signal });
        if (gr === CRDS) establishedWait.push(name);
        await restoreStatus(created);
        record(entry('created'), listKey);
      } catch (error) {
        const refused = error instanceof KubeApiError && (error.status === 409 || error.status === 422);
        const live = refused ? await getLive(resource, targetNs, name) : undefined;
        if (!live) {
          fail(`cannot create: ${message(error)}`);
          return;
        }
        await resolve(live);
        if (gr === CRDS) establishedWait.push(name);
      }
    }
    for (const gr of order) {
      signal?.throwIfAborted();
      const contentsOf = contents.resources.get(gr);
      if (!contentsOf) continue;
      if (!contentsOf.namespaced && gr !== NAMESPACES && !contentsOf.count) continue;
      progress.currentResource = gr;
      report();
      const target = targetResource(gr);
      const version = 'resource' in target ? target.version : contentsOf.preferredVersion;
      log({
        level: 'info',
        message: `${dryRun ? 'planning' : 'restoring'} ${gr} (${contentsOf.count} in the backup, as version ${version})`,
      });
      const items = async function* () {
        for await (const item of contents.items(gr, version, signal ? { signal } : {})) {
          if (gr === NAMESPACES) {
            if (!namespaceObjectSelected(item.name)) continue;
          } else if (item.namespace === undefined) {
            if (!clusterItemSelected(gr, item.name)) continue;
            if (!selection.labelsSelected(item.object.metadata.labels)) continue;
          } else if (!itemSelected(item)) continue;
          yield item;
        }
      };
      if (gr === NAMESPACES) {
        // Namespace objects are created through ensureNamespace, so each target is created once.
        for await (const item of items()) {
          const targetName = selection.targetNamespace(item.name);
          const prepared = prepareForRestore(NAMESPACES, item.object, input.transform);
          namespaceObjects.set(targetName, prepared.object);
        }
        await forEachBounded(
          sourceNamespaces,
          input.concurrency,
          async (ns) => {
            const targetName = selection.targetNamespace(ns);
            const problem = await ensureNamespace(targetName);
            if (problem) log({ level: 'error', message: problem, namespace: targetName });
          },
          signal,
        );
        continue;
      }
      if ('problem' in target) {
        for await (const item of items()) {
          const targetNs =
            item.namespace === undefined ? undefined : selection.targetNamespace(item.namespace);
          if (dryRun && gr !== CRDS && restoredDefinitionPending(gr)) {
            record(
              {
                outcome: 'created',
                groupResource: gr,
                ...(targetNs !== undefined ? { namespace: targetNs } : {}),
                name: item.name,
                reason: 'after its definition is restored',
              },
              `${item.object.apiVersion}/${item.object.kind}`,
            );
            continue;
          }
          log({
            level: 'error',
            message: `${gr} ${where(targetNs, item.name)}: ${target.problem}`,
            ...(targetNs ? { namespace: targetNs } : {}),
          });
          record(
            {
              outcome: 'failed',
              groupResource: gr,
              ...(targetNs !== undefined ? { namespace: targetNs } : {}),
              name: item.name,
              reason: target.problem,
            },
            `${item.object.apiVersion}/${item.object.kind}`,
          );
        }
        continue;
      }
      await forEachBounded(
        items(),
        input.concurrency,
        (item) => restoreItem(gr, target.resource, item),
        signal,
      );

      if (gr === CRDS && !dryRun && establishedWait.length > 0) {
        const names = establishedWait.splice(0);
        await waitEstablished(target.resource, names);
        // Discovery catches up with a new definition a moment after it is Established: read it again
        // until it serves every restored definition's resource (or the wait is over).
        const deadline = now() + (input.timeoutsMs?.definitionEstablished ?? 60_000);
        for (;;) {
          mapper = await input.rediscover();
          const missing = names.filter((name) => mapper.versionsOf(name).length === 0);
          if (missing.length === 0) break;
          if (now() > deadline) {
            log({
              level: 'error',
              message: `the cluster does not serve ${missing.join(', ')} although its definition was restored`,
            });
            break;
          }
          await sleep(200);
        }
      }
    }

    /** In a dry run: whether the backup restores the definition of this (not yet served) resource. */
    function restoredDefinitionPending(gr: string): boolean {
      return contents.resources.has(CRDS) && clusterItemSelected(CRDS, gr);
    }

    async function waitEstablished(crdResource: ApiResource, names: string[]): Promise<void> {
      const deadline = now() + (input.timeoutsMs?.definitionEstablished ?? 60_000);
      for (const name of names) {
        for (;;) {
          signal?.throwIfAborted();
          const live = await getLive(crdResource, undefined, name);
          const conditions =
            (live?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
            [];
          if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
          if (now() > deadline) {
            log({
              level: 'error',
              message: `customresourcedefinition ${name} was not Established in time; its custom objects may fail`,
            });
            break;
          }
          await sleep(100);
        }
      }
    }
  } catch (error) {
    failure = signal?.aborted ? `aborted: ${message(signal.reason)}` : message(error);
    log({ level: 'error', message: `the restore stopped: ${failure}` });
  }

  delete progress.currentResource;

  log({
    level: 'info',

    message: `${dryRun ? 'planned' : 'done'}: ${counts.created} created, ${counts.updated} updated, ${counts.recreated ? `${counts.recreated} recreated, ` : ''}${counts.unchanged} unchanged, ${counts.skipped} skipped, ${counts.failed} failed`,
  });
  progress.totalItems = progress.itemsRestored;
  report();
  const resourceListOut: Record<string, string[]> = {};
  for (const key of [...resourceList.keys()].sort())
    resourceListOut[key] = (resourceList.get(key) ?? []).sort();
  return {
    phase: failure !== undefined ? 'Failed' : results.errorCount > 0 ? 'PartiallyFailed' : 'Completed',
    ...(failure !== undefined ? { failureReason: failure } : {}),
    results,
    resourceList: resourceListOut,
    counts,
    plan,
    progress: { itemsRestored: progress.itemsRestored, totalItems: progress.totalItems },
    podsWithVolumes: plan
      .filter((e) => e.groupResource === 'pods' && (e.outcome === 'created' || e.outcome === 'recreated'))
      .flatMap((e) => podsWithVolumes.get(`${e.namespace ?? ''}/${e.name}`) ?? []),
    podsWithHooks: plan
      .filter((e) => e.groupResource === 'pods' && (e.outcome === 'created' || e.outcome === 'recreated'))
      .flatMap((e) => podsWithHooks.get(`${e.namespace ?? ''}/${e.name}`) ?? []),
  };
}
