// The order in which a restore applies resources (docs/restore.md, "Order"). Velero's priorities: what
// others depend on first (definitions, namespaces, storage, identities and permissions, configuration),
// then the workloads, then everything else alphabetically, then a short tail of kinds that reference
// everything else.

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
