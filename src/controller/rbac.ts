// The RBAC of the server and of the node agent, derived from what their code calls (docs/security.md, "The
// RBAC"): one place, used by `cairn install` and mirrored by the Helm chart (test/integration/helm-chart.test.ts
// checks the chart renders these rules). Each rule says which code needs it. Add a rule here, to the role
// whose work needs it, and to the chart's template of that role.
//
// The server reads every resource (a backup may hold any) and, to restore, writes every resource: RBAC
// cannot subtract, so its restore role is close to cluster-admin, as Velero's is. That part is a role of
// its own, `cairn-server-restore`: without its binding the server still backs up (a backup-only cluster)
// and a restore fails naming what it may not write. The node agent, privileged on every node, gets its own
// ServiceAccount with only its pod-volume work.

/** One rule of a Role or ClusterRole, as the API takes it. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The ServiceAccounts `cairn install` makes in the server's namespace. */
export const SERVER_ACCOUNT = 'cairn';
export const NODE_AGENT_ACCOUNT = 'cairn-node-agent';

/** Role names: ClusterRoles and Roles of the same name are bound to their ServiceAccount. */
export const SERVER_ROLE = 'cairn-server';
export const SERVER_RESTORE_ROLE = 'cairn-server-restore';
export const NODE_AGENT_ROLE = 'cairn-node-agent';

const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];

/** The server, in every namespace: reading for backups, and the writes a backup itself makes. */
export const serverClusterRules = (): PolicyRule[] => [
  // The backup engine lists every resource of every group it is asked to back up (discovery, then paged
  // lists and gets); catalog sync and describe read claims, volumes and snapshot classes.
  { apiGroups: ['*'], resources: ['*'], verbs: READ },
  // Backup hooks run commands in pods (src/backup/hooks.ts).
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
  // CSI snapshots and their data movement (src/volumes/csi-snapshots.ts, data-mover.ts): snapshots made
  // and removed, a mover pod and claim in the claim's namespace, the volume's reclaim policy kept.
  {
    apiGroups: ['snapshot.storage.k8s.io'],
    resources: ['volumesnapshots', 'volumesnapshotcontents'],
    verbs: WRITE,
  },
  { apiGroups: [''], resources: ['pods', 'persistentvolumeclaims'], verbs: ['create', 'delete'] },
  { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['patch'] },
  // The HTTP endpoints (log downloads, the dashboard) decide who may see what (src/controller/access.ts).
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** The server, in its own namespace: its resources, its lease, and the Secrets of keys and passwords. */
export const serverNamespaceRules = (): PolicyRule[] => [
  // The controllers' own resources and their status (src/controller/resources.ts).
  { apiGroups: ['cairn.dev'], resources: ['*'], verbs: [...READ, ...WRITE] },
  // The dashboard creates Restores on behalf of the user signed in, naming them as the creator: the
  // admission policy cairn-restore-creator lets only users who may `delegate` do that (src/api/admission.ts).
  { apiGroups: ['cairn.dev'], resources: ['restores'], verbs: ['delegate'] },
  // Leader election (src/controller/leader.ts, lease-store.ts); the node agents' leases are read.
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  // Location keys `cairn-key-<location>` and repository passwords `cairn-repo-<location>-<namespace>` are
  // made on first use (locations.ts, pod-volumes.ts); credentials Secrets are read.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'patch'] },
];

/** The server's restores: every resource written, RBAC objects too (hence bind and escalate). */
export const serverRestoreRules = (): PolicyRule[] => [
  // `*` matches subresources too (serviceaccounts/token, pods/exec): no rule can leave them out.
  { apiGroups: ['*'], resources: ['*'], verbs: WRITE },
  // A restored Role or binding may grant what the server itself does not hold.
  {
    apiGroups: ['rbac.authorization.k8s.io'],
    resources: ['clusterroles', 'roles'],
    verbs: ['bind', 'escalate'],
  },
];

/** The node agent, in every namespace: the pods whose volumes it reads and fills. */
export const nodeAgentClusterRules = (): PolicyRule[] => [
  // A volume's pod, claim and volume are looked up (src/volumes/fs-backup.ts, fs-restore.ts).
  { apiGroups: [''], resources: ['pods', 'persistentvolumeclaims', 'persistentvolumes'], verbs: ['get'] },
];

/** The node agent, in the server's namespace: its work items, its lease, and the repository passwords. */
export const nodeAgentNamespaceRules = (): PolicyRule[] => [
  // It takes a PodVolumeBackup or PodVolumeRestore and writes its outcome (src/controller/node-agent.ts).
  { apiGroups: ['cairn.dev'], resources: ['podvolumebackups', 'podvolumerestores'], verbs: ['get', 'list'] },
  {
    apiGroups: ['cairn.dev'],
    resources: ['podvolumebackups/status', 'podvolumerestores/status'],
    verbs: ['patch'],
  },
  { apiGroups: ['cairn.dev'], resources: ['backuplocations'], verbs: ['get', 'list'] },
  // Its Lease `cairn-node-agent-<node>` says it runs.
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  // A repository's password is made by its first backup; the location's credentials are read. It opens
  // stores without the location key, but RBAC cannot tell that Secret from the others by a prefix.
  { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create'] },
];

interface RbacObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels: Record<string, string> };
  [field: string]: unknown;
}

const RBAC_API = 'rbac.authorization.k8s.io/v1';

/**
 * The ServiceAccounts, roles and bindings of the server and the node agent in `namespace`, in the order
 * they are applied; `labels` go on every object.
 */
export function rbacManifests(namespace: string, labels: Record<string, string>): RbacObject[] {
  const meta = (name: string, namespaced: boolean) => ({
    name,
    ...(namespaced ? { namespace } : {}),
    labels: { ...labels },
  });
  const account = (name: string): RbacObject => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(name, true),
  });
  const role = (kind: 'ClusterRole' | 'Role', name: string, rules: PolicyRule[]): RbacObject => ({
    apiVersion: RBAC_API,
    kind,
    metadata: meta(name, kind === 'Role'),
    rules,
  });
  const binding = (kind: 'ClusterRole' | 'Role', name: string, subject: string): RbacObject => ({
    apiVersion: RBAC_API,
    kind: kind === 'Role' ? 'RoleBinding' : 'ClusterRoleBinding',
    metadata: meta(name, kind === 'Role'),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name },
    subjects: [{ kind: 'ServiceAccount', name: subject, namespace }],
  });
  return [
    account(SERVER_ACCOUNT),
    account(NODE_AGENT_ACCOUNT),
    role('ClusterRole', SERVER_ROLE, serverClusterRules()),
    binding('ClusterRole', SERVER_ROLE, SERVER_ACCOUNT),
    role('ClusterRole', SERVER_RESTORE_ROLE, serverRestoreRules()),
    binding('ClusterRole', SERVER_RESTORE_ROLE, SERVER_ACCOUNT),
    role('Role', SERVER_ROLE, serverNamespaceRules()),
    binding('Role', SERVER_ROLE, SERVER_ACCOUNT),
    role('ClusterRole', NODE_AGENT_ROLE, nodeAgentClusterRules()),
    binding('ClusterRole', NODE_AGENT_ROLE, NODE_AGENT_ACCOUNT),
    role('Role', NODE_AGENT_ROLE, nodeAgentNamespaceRules()),
    binding('Role', NODE_AGENT_ROLE, NODE_AGENT_ACCOUNT),
  ];
}
