// Which cluster-scoped objects a restored object needs, so that they come along when cluster-scoped
// objects are restored only as related items (auto mode, or a --cluster-resource-scope list): a claim's
// volume and storage class, a volume's storage class, a StatefulSet's claim templates' storage classes, a
// RoleBinding's ClusterRole. (A custom object's definition follows from its resource, in engine.ts.)
// Names are the target's: a storage class after the restore's storage-class mapping.
import type { KubeObject } from '../kube/index.ts';
import type { TransformOptions } from './transform.ts';

export const PVS = 'persistentvolumes';
export const STORAGE_CLASSES = 'storageclasses.storage.k8s.io';
export const CLUSTER_ROLES = 'clusterroles.rbac.authorization.k8s.io';

/** The namespaced (and volume) resources whose items name related cluster-scoped objects. */
export const NAMING_RELATED = new Set([
  'persistentvolumeclaims',
  PVS,
  'statefulsets.apps',
  'rolebindings.rbac.authorization.k8s.io',
]);

/** The cluster-scoped resources that come along as related items (besides definitions). */
export const RELATED_KINDS = new Set([PVS, STORAGE_CLASSES, CLUSTER_ROLES]);

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

/** The cluster-scoped objects that `object` (an item of `groupResource`, as backed up) needs. */
export function relatedItems(
  groupResource: string,
  object: KubeObject,
  transform: TransformOptions,
): RelatedItem[] {
  const spec = isObject(object.spec) ? object.spec : {};
  switch (groupResource) {
    case 'persistentvolumeclaims': {
      const volume = text(spec.volumeName);
      return [
        ...(volume ? [{ groupResource: PVS, name: volume }] : []),
        ...storageClassOf(object, transform),
      ];
    }
    case PVS:
      return storageClassOf(object, transform);
    case 'statefulsets.apps':
      return (Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []).flatMap((t) =>
        storageClassOf(t, transform),
      );
    case 'rolebindings.rbac.authorization.k8s.io': {
      const ref = isObject(object.roleRef) ? object.roleRef : {};
      const name = text(ref.name);
      return ref.kind === 'ClusterRole' && name ? [{ groupResource: CLUSTER_ROLES, name }] : [];
    }
    default:
      return [];
  }
}
