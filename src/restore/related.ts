// Which cluster-scoped objects a restored object needs, so that they come along when cluster-scoped
// objects are restored only as related items (auto mode, or a --cluster-resource-scope list): a claim's
// volume and storage class, a volume's storage class, a StatefulSet's claim templates' storage classes, a
// RoleBinding's ClusterRole. (A custom object's definition follows from its resource, in scope.ts.)
// Names are the target's: a storage class after the restore's storage-class mapping.
import type { KubeObject } from '../kube/index.ts';
import type { TransformOptions } from './transform.ts';

export const PVS = 'persistentvolumes';
export const STORAGE_CLASSES = 'storageclasses.storage.k8s.io';
export const CLUSTER_ROLES = 'clusterroles.rbac.authorization.k8s.io';

export interface RelatedItem {
  groupResource: string;
  name: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

const LEGACY_STORAGE_CLASS = 'volume.beta.kubernetes.io/storage-class';

/** The storage class a claim, a volume or a claim template names (spec, or the legacy annotation). */
function storageClassOf(object: unknown, transform: TransformOptions): RelatedItem[] {
  if (!isObject(object)) return [];
  const spec = isObject(object.spec) ? object.spec : {};
  const metadata = isObject(object.metadata) ? object.metadata : {};
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  const name = text(spec.storageClassName) ?? text(annotations[LEGACY_STORAGE_CLASS]);
  return name
    ? [{ groupResource: STORAGE_CLASSES, name: transform.storageClassMapping.get(name) ?? name }]
    : [];
}

type Namer = (object: KubeObject, spec: Json, transform: TransformOptions) => RelatedItem[];

/**
 * The resources whose items name related cluster-scoped objects: for each, the kinds it names and how it
 * names them. The one place that knows; the sets below are derived from it.
 */
const NAMERS: Readonly<Record<string, { names: readonly string[]; namer: Namer }>> = {
  persistentvolumeclaims: {
    names: [PVS, STORAGE_CLASSES],
    namer: (object, spec, transform) => {
      const volume = text(spec.volumeName);
      return [
        ...(volume ? [{ groupResource: PVS, name: volume }] : []),
        ...storageClassOf(object, transform),
      ];
    },
  },
  [PVS]: { names: [STORAGE_CLASSES], namer: (object, _spec, transform) => storageClassOf(object, transform) },
  'statefulsets.apps': {
    names: [STORAGE_CLASSES],
    namer: (_object, spec, transform) =>
      (Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []).flatMap((t) =>
        storageClassOf(t, transform),
      ),
  },
  'rolebindings.rbac.authorization.k8s.io': {
    names: [CLUSTER_ROLES],
    namer: (object) => {
      const ref = isObject(object.roleRef) ? object.roleRef : {};
      const name = text(ref.name);
      return ref.kind === 'ClusterRole' && name ? [{ groupResource: CLUSTER_ROLES, name }] : [];
    },
  },
};

/** The namespaced (and volume) resources whose items name related cluster-scoped objects. */
export const NAMING_RELATED: ReadonlySet<string> = new Set(Object.keys(NAMERS));

/** The cluster-scoped resources that come along as related items (besides definitions). */
export const RELATED_KINDS: ReadonlySet<string> = new Set(Object.values(NAMERS).flatMap((n) => n.names));

/** The cluster-scoped objects that `object` (an item of `groupResource`, as backed up) needs. */
export function relatedItems(
  groupResource: string,
  object: KubeObject,
  transform: TransformOptions,
): RelatedItem[] {
  const spec = isObject(object.spec) ? object.spec : {};
  return NAMERS[groupResource]?.namer(object, spec, transform) ?? [];
}

/**
 * Why a ClusterRole is the target cluster's own to keep, or undefined: a default role of Kubernetes
 * (labelled kubernetes.io/bootstrapping=rbac-defaults, as admin, edit, view, cluster-admin), a system:
 * role, or an aggregated one (its rules are the target's, gathered by its controller). The source
 * cluster's copy never comes along as a related item, and never replaces the live one.
 */
export function clusterRoleKeptByTarget(object: KubeObject): string | undefined {
  if (object.metadata.labels?.['kubernetes.io/bootstrapping'] === 'rbac-defaults')
    return 'a default role of Kubernetes (kubernetes.io/bootstrapping=rbac-defaults)';
  if (object.metadata.name.startsWith('system:')) return 'a system: role';
  if (object.aggregationRule !== undefined) return 'an aggregated role (aggregationRule)';
  return undefined;
}
