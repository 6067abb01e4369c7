// The order in which a restore applies resources (docs/restore.md, "Order"). Velero's priorities: what
// others depend on first (definitions, namespaces, storage, identities and permissions, configuration),
// then the workloads, then everything else alphabetically, then a short tail of kinds that reference
// everything else. And the stages that order is restored in: what depends on none of each other goes
// side by side.

/** Velero's high-priority list, in order (pkg/cmd/server/config/config.go). */
export const DEFAULT_HIGH_PRIORITIES: readonly string[] = [
  'customresourcedefinitions.apiextensions.k8s.io',
  'namespaces',
  'storageclasses.storage.k8s.io',
  'volumesnapshotclasses.snapshot.storage.k8s.io',
  'volumesnapshotcontents.snapshot.storage.k8s.io',
  'volumesnapshots.snapshot.storage.k8s.io',
  'persistentvolumes',
  'persistentvolumeclaims',
  'clusterroles.rbac.authorization.k8s.io',
  'roles.rbac.authorization.k8s.io',
  'serviceaccounts',
  'clusterrolebindings.rbac.authorization.k8s.io',
  'rolebindings.rbac.authorization.k8s.io',
  'secrets',
  'configmaps',
  'limitranges',
  'priorityclasses.scheduling.k8s.io',
  'pods',
  'replicasets.apps',
  'endpoints',
  'services',
];

/** The low-priority tail: kinds that gather or reference everything else (Cluster API, Carvel). */
export const DEFAULT_LOW_PRIORITIES: readonly string[] = [
  'clusterbootstraps.run.tanzu.vmware.com',
  'clusters.cluster.x-k8s.io',
  'clusterresourcesets.addons.cluster.x-k8s.io',
  'apps.kappctrl.k14s.io',
  'packageinstalls.packaging.carvel.dev',
];

/** Never restored, whatever the filters say: they belong to the target cluster, or would harm it. */
export const NEVER_RESTORED: ReadonlySet<string> = new Set([
  'nodes',
  'events',
  'events.events.k8s.io',
  'csinodes.storage.k8s.io',
  'volumeattachments.storage.k8s.io',
  'leases.coordination.k8s.io',
  'componentstatuses',
  'tokenreviews.authentication.k8s.io',
  'selfsubjectreviews.authentication.k8s.io',
  'subjectaccessreviews.authorization.k8s.io',
  'selfsubjectaccessreviews.authorization.k8s.io',
  'selfsubjectrulesreviews.authorization.k8s.io',
  'localsubjectaccessreviews.authorization.k8s.io',
  'bindings',
  'backups.cairn.dev',
  'restores.cairn.dev',
  'backups.velero.io',
  'restores.velero.io',
  'resticrepositories.velero.io',
  'backuprepositories.velero.io',
]);

export interface Priorities {
  high: readonly string[];
  low: readonly string[];
}

/**
 * Parses `--resource-priorities`: a comma list of group resources, with a "-" element separating the
 * high list from the low list (Velero's syntax). Names are as the archive stores them (`deployments.apps`).
 */
export function parsePriorities(items: readonly string[]): Priorities {
  const split = items.indexOf('-');
  const clean = (list: readonly string[]) => list.map((s) => s.trim()).filter((s) => s !== '');
  return split < 0
    ? { high: clean(items), low: [] }
    : { high: clean(items.slice(0, split)), low: clean(items.slice(split + 1)) };
}

/** The group resources of a backup in restore order: high priorities, the rest sorted, low priorities. */
export function restoreOrder(groupResources: Iterable<string>, priorities: Priorities): string[] {
  const present = new Set(groupResources);
  const high = priorities.high.filter((gr) => present.has(gr));
  const low = priorities.low.filter((gr) => present.has(gr) && !high.includes(gr));
  const rest = [...present].filter((gr) => !high.includes(gr) && !low.includes(gr)).sort();
  return [...high, ...rest, ...low];
}

/**
 * What is restored on its own, wherever a custom priority list puts it: everything after the
 * definitions may be one of their custom objects, and everything after the namespaces may live in one.
 */
const ALONE: ReadonlySet<string> = new Set(['customresourcedefinitions.apiextensions.k8s.io', 'namespaces']);

/**
 * A restore order cut into stages, restored one after the other; the resources of one stage are restored
 * side by side. Each prioritized resource (high or low) is a stage of its own and waits for the one
 * before, as in Velero. The others depend on none of each other: those between two prioritized ones (in
 * restoreOrder, all the rest) share a stage, cut only by the definitions and the namespaces.
 */
export function restoreStages(order: readonly string[], priorities: Priorities): string[][] {
  const prioritized = new Set([...priorities.high, ...priorities.low]);
  const stages: string[][] = [];
  let shared: string[] | undefined;
  for (const gr of order) {
    if (prioritized.has(gr) || ALONE.has(gr)) {
      stages.push([gr]);
      shared = undefined;
    } else if (shared) shared.push(gr);
    else stages.push((shared = [gr]));
  }
  return stages;
}
