// Items the selection takes that are still not restored: what the kubelet or a controller makes again,
// what belongs to the target cluster, and volumes whose claims get new ones. A pure decision on the
// backed-up item (docs/restore.md, "Never restored" and "Left to their controllers").
import type { KubeObject } from '../kube/index.ts';
import type { ContentItem } from './contents.ts';
import { CLUSTER_ROLES, clusterRoleKeptByTarget, PVS } from './related.ts';
import { controllerOf } from './transform.ts';

/**
 * Built-in controllers that recreate what they own: a restored Deployment makes its replica sets and
 * pods again, a StatefulSet its pods and revisions, a Service its endpoint slices. What they own (their
 * controller owner reference names them) is left to them, not restored beside them as orphans.
 */
export const WORKLOAD_CONTROLLERS: ReadonlySet<string> = new Set([
  'deployments.apps',
  'replicasets.apps',
  'statefulsets.apps',
  'daemonsets.apps',
  'jobs.batch',
  'cronjobs.batch',
  'services',
]);

/** How a restored controller is named among the owners (SkipFacts.owners). */
export const ownerKey = (kind: string, namespace: string | undefined, name: string) =>
  `${kind}/${namespace ?? ''}/${name}`;

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

export interface SkipFacts {
  /** Volumes whose claims are restored from their CSI snapshots, on new volumes. */
  volumesFromSnapshots: ReadonlySet<string>;
  /** Volumes whose data was moved into the repository (snapshotMoveData). */
  movedVolumes: ReadonlySet<string>;
  /** Volumes whose claims are provisioned anew (reclaim policy Delete, or moved data). */
  reprovisioned: ReadonlySet<string>;
  /** Whether cluster roles are restored in full (not only as related to restored role bindings). */
  clusterRolesInFull: boolean;
  /** The workload controllers this restore restores (ownerKey). */
  owners: ReadonlySet<string>;
  /** A pod with volumes to fill or hooks to run: restored even when its controller is (which adopts it). */
  podHasWork: boolean;
}

/** Why an item of `gr` is not restored, or undefined when it is. */
export function skipReason(gr: string, item: ContentItem, facts: SkipFacts): string | undefined {
  const source = item.object;
  const labels = source.metadata.labels ?? {};
  if (gr === 'pods') {
    const phase = (source.status as { phase?: string } | undefined)?.phase;
    if (source.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined)
      return 'a mirror pod (the kubelet creates it)';
    if (phase === 'Succeeded' || phase === 'Failed') return `a finished pod (${phase})`;
  }
  if (gr === PVS) {
    if (facts.volumesFromSnapshots.has(item.name))
      return 'its claim is restored from its CSI snapshot, on a new volume';
    if (facts.movedVolumes.has(item.name))
      return 'its data was moved into the repository: its claim is provisioned anew and filled from it';
    if (facts.reprovisioned.has(item.name))
      return 'reclaim policy Delete and no volume data in the backup: its claim is provisioned anew';
  }
  // A built-in or aggregated ClusterRole is the target's: never brought along for a RoleBinding (restored
  // in full, it is created only where it is missing, never replacing the live one: apply.ts).
  const keptByTarget = gr === CLUSTER_ROLES ? clusterRoleKeptByTarget(source) : undefined;
  if (keptByTarget && !facts.clusterRolesInFull) return `${keptByTarget}: the target cluster's own is kept`;
  // Every cluster publishes its own CA into every namespace; the backed-up one names the old cluster's.
  if (gr === 'configmaps' && item.name === 'kube-root-ca.crt')
    return "the target cluster publishes its own (its API server's CA)";
  // The endpoints controller writes these for a Service with a selector, from the pods it selects:
  // restored, they would name the old pods' addresses until it rewrites them. Endpoints a user wrote
  // (a Service without a selector) carry no such label and are restored.
  if (gr === 'endpoints' && labels[ENDPOINTS_MANAGED_BY] === ENDPOINTS_CONTROLLER)
    return `made by the endpoints controller for Service ${item.name}`;
  if (gr === ENDPOINT_SLICES) {
    const manager = labels[SLICE_MANAGED_BY];
    const made = manager === undefined ? undefined : SLICE_CONTROLLERS[manager];
    if (made) return `made by the ${made} for Service ${labels['kubernetes.io/service-name'] ?? '?'}`;
  }
  return facts.podHasWork ? undefined : leftToController(source, item.namespace, facts.owners);
}

function leftToController(
  source: KubeObject,
  namespace: string | undefined,
  owners: ReadonlySet<string>,
): string | undefined {
  const owner = controllerOf(source);
  return owner && owners.has(ownerKey(owner.kind, namespace, owner.name))
    ? `left to its controller, ${owner.kind} ${owner.name}`
    : undefined;
}
