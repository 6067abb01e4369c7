// What a backed-up object becomes before it is applied to the target cluster: Velero's resetMetadataAndStatus
// plus its built-in RestoreItemActions (job, pod, service, service-account, pvc, role-bindings,
// change-storage-class), with the namespace and storage-class mappings of the restore. Pure functions: the
// input is never changed, every result is a new object. docs/restore-transforms.md explains each rule.
import type { KubeObject } from '../kube/index.ts';

export interface TransformOptions {
  /** Backed-up namespace → target namespace (Velero's namespaceMapping). Unmapped namespaces stay. */
  namespaceMapping: ReadonlyMap<string, string>;
  /** Backed-up storage class → target storage class (Velero's change-storage-class plugin config). */
  storageClassMapping: ReadonlyMap<string, string>;
  /** Keep every Service nodePort (Velero's preserveNodePorts); else only those set explicitly are kept. */
  preserveNodePorts: boolean;
  /** Labels put on every restored object (e.g. the restore's and the backup's names). */
  restoreLabels: Readonly<Record<string, string>>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const objectAt = (parent: unknown, key: string): Json | undefined => {
  if (!isObject(parent)) return undefined;
  const child = parent[key];
  return isObject(child) ? child : undefined;
};
const arrayAt = (parent: unknown, key: string): unknown[] | undefined => {
  if (!isObject(parent)) return undefined;
  const child = parent[key];
  return Array.isArray(child) ? child : undefined;
};

/** Metadata the API server assigns; Velero's resetMetadataAndStatus removes the same (plus managedFields). */
const serverMetadata = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'generation',
  'selfLink',
  // Owner uids change in the target cluster: a restored owner would not be found by its old uid.
  'ownerReferences',
];

const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';
const STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** PVC annotations of the binding done in the source cluster; the target cluster's controllers set their own. */
const claimBindingAnnotations = [
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'volume.kubernetes.io/selected-node',
];
const jobControllerLabels = ['controller-uid', 'batch.kubernetes.io/controller-uid'];

/**
 * The object to create in the target cluster, and the backed-up status (for a later status update). Mappings
 * are applied; what the source cluster assigned (uids, versions, cluster IPs, allocated node ports, node
 * bindings, generated selectors) is removed so that the target cluster assigns its own.
 */
export function prepareForRestore(
  groupResource: string,
  object: KubeObject,
  options: TransformOptions,
): { object: KubeObject; status: unknown } {
  const out = structuredClone(object);
  const status = out.status;
  delete out.status;
  resetMetadata(out);
  const labels = { ...out.metadata.labels, ...options.restoreLabels };
  if (Object.keys(labels).length > 0) out.metadata.labels = labels;
  const mapNamespace = (ns: string) => options.namespaceMapping.get(ns) ?? ns;
  if (out.metadata.namespace) out.metadata.namespace = mapNamespace(out.metadata.namespace);
  resetByKind(groupResource, out, {
    mapNamespace,
    mapStorageClass: (sc) => options.storageClassMapping.get(sc) ?? sc,
    preserveNodePorts: options.preserveNodePorts,
    original: object,
  });
  return { object: out, status };
}

function resetMetadata(object: KubeObject): void {
  const meta = object.metadata;
  for (const field of serverMetadata) delete meta[field];
  if (meta.name) delete meta.generateName;
}

interface KindOptions {
  mapNamespace: (ns: string) => string;
  mapStorageClass: (sc: string) => string;
  preserveNodePorts: boolean;
  /** The object as backed up, with its managedFields. */
  original: KubeObject;
}

function resetByKind(groupResource: string, object: KubeObject, o: KindOptions): void {
  const spec = objectAt(object, 'spec');
  switch (groupResource) {
    case 'namespaces': {
      const mapped = o.mapNamespace(object.metadata.name);
      if (mapped !== object.metadata.name) {
        object.metadata.name = mapped;
        // The API server sets this label to the name on every write; renamed, it follows the new name.
        const labels = object.metadata.labels;
        if (labels && Object.hasOwn(labels, NAMESPACE_NAME_LABEL)) labels[NAMESPACE_NAME_LABEL] = mapped;
      }
      break;
    }
    case 'rolebindings.rbac.authorization.k8s.io':
    case 'clusterrolebindings.rbac.authorization.k8s.io':
      for (const subject of arrayAt(object, 'subjects') ?? []) {
        if (isObject(subject) && subject.kind === 'ServiceAccount' && typeof subject.namespace === 'string')
          subject.namespace = o.mapNamespace(subject.namespace);
      }
      break;
    case 'persistentvolumes': {
      const claimRef = objectAt(spec, 'claimRef');
      if (claimRef) {
        if (typeof claimRef.namespace === 'string') claimRef.namespace = o.mapNamespace(claimRef.namespace);
        delete claimRef.uid;
        delete claimRef.resourceVersion;
      }
      mapStorageClass(object, spec, o);
      break;
    }
    case 'persistentvolumeclaims':
      removeAnnotations(object, claimBindingAnnotations);
      mapStorageClass(object, spec, o);
      break;
    case 'statefulsets.apps':
      for (const template of arrayAt(spec, 'volumeClaimTemplates') ?? []) {
        if (isObject(template)) mapStorageClass(template, objectAt(template, 'spec'), o);
      }
      break;
    case 'services':
      resetService(spec, o);
      break;
    case 'pods':
      resetPod(spec);
      break;
    case 'serviceaccounts': {
      // Legacy token secrets (`<name>-token-xxxxx`) belong to the source cluster; the target makes its own.
      const secrets = arrayAt(object, 'secrets');
      if (secrets) {
        const kept = secrets.filter(
          (s) =>
            !(
              isObject(s) &&
              typeof s.name === 'string' &&
              s.name.startsWith(`${object.metadata.name}-token-`)
            ),
        );
        if (kept.length > 0) object.secrets = kept;
        else delete object.secrets;
      }
      break;
    }
    case 'jobs.batch':
      resetJob(spec);
      break;
  }
}

function removeAnnotations(object: { metadata?: unknown }, keys: readonly string[]): void {
  const annotations = objectAt(object.metadata, 'annotations');
  if (!annotations) return;
  for (const key of keys) delete annotations[key];
  if (Object.keys(annotations).length === 0) delete (object.metadata as Json).annotations;
}

/** spec.storageClassName and the legacy beta annotation, on a PV, a PVC or a claim template. */
function mapStorageClass(object: Json, spec: Json | undefined, o: KindOptions): void {
  if (spec && typeof spec.storageClassName === 'string' && spec.storageClassName !== '')
    spec.storageClassName = o.mapStorageClass(spec.storageClassName);
  const annotations = objectAt(object.metadata, 'annotations');
  const legacy = annotations?.[STORAGE_CLASS_ANNOTATION];
  if (annotations && typeof legacy === 'string' && legacy !== '')
    annotations[STORAGE_CLASS_ANNOTATION] = o.mapStorageClass(legacy);
}

function resetService(spec: Json | undefined, o: KindOptions): void {
  if (!spec) return;
  // A headless service ("None") keeps it: that is a choice, not an allocation.
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  if (o.preserveNodePorts || spec.type === 'ExternalName') return;
  const explicit = explicitNodePorts(o.original);
  for (const port of arrayAt(spec, 'ports') ?? []) {
    if (isObject(port) && port.nodePort !== undefined && !explicit.keeps(port)) delete port.nodePort;
  }
  if (spec.healthCheckNodePort !== undefined && !explicit.healthCheckNodePort)
    delete spec.healthCheckNodePort;
}

function resetPod(spec: Json | undefined): void {
  if (!spec) return;
  delete spec.nodeName;
  // Admission recomputes the priority from priorityClassName, and rejects a priority that disagrees.
  delete spec.priority;
  // Legacy service-account token secret volumes (`<serviceAccountName>-token-xxxxx`) name secrets of the
  // source cluster; the target's admission mounts its own token.
  const account =
    typeof spec.serviceAccountName === 'string' && spec.serviceAccountName !== ''
      ? spec.serviceAccountName
      : 'default';
  const isToken = (v: unknown) =>
    isObject(v) && typeof v.name === 'string' && v.name.startsWith(`${account}-token-`);
  filterList(spec, 'volumes', isToken);
  for (const list of ['containers', 'initContainers']) {
    for (const container of arrayAt(spec, list) ?? []) {
      if (isObject(container)) filterList(container, 'volumeMounts', isToken);
    }
  }
}

/** Drops the entries of parent[key] that match; drops the list if that empties it. */
function filterList(parent: Json, key: string, drop: (v: unknown) => boolean): void {
  const list = arrayAt(parent, key);
  if (!list || !list.some(drop)) return;
  const kept = list.filter((v) => !drop(v));
  if (kept.length > 0) parent[key] = kept;
  else delete parent[key];
}

function resetJob(spec: Json | undefined): void {
  if (!spec) return;
  const selector = objectAt(spec, 'selector');
  const matchLabels = objectAt(selector, 'matchLabels');
  const templateLabels = objectAt(objectAt(objectAt(spec, 'template'), 'metadata'), 'labels');
  for (const label of jobControllerLabels) {
    if (matchLabels) delete matchLabels[label];
    if (templateLabels) delete templateLabels[label];
  }
  // Without manualSelector the API server generates the selector, and rejects one that is given.
  if (spec.manualSelector !== true) delete spec.selector;
}

// --- Explicitly set node ports ------------------------------------------------------------------------------

interface ExplicitNodePorts {
  keeps(port: Json): boolean;
  healthCheckNodePort: boolean;
}

/**
 * Which node ports the user set, rather than the API server allocated (Velero's service action): those in the
 * last-applied-configuration annotation (`kubectl apply`), matched by port name, or by node port value for an
 * unnamed port; else those owned by a field manager (server-side apply), matched by port and protocol.
 * An annotation that is not JSON counts as naming none (Velero fails the item instead).
 */
function explicitNodePorts(object: KubeObject): ExplicitNodePorts {
  const lastApplied = object.metadata.annotations?.[LAST_APPLIED_ANNOTATION];
  if (lastApplied !== undefined) {
    let applied: unknown;
    try {
      applied = JSON.parse(lastApplied);
    } catch {
      applied = undefined;
    }
    const appliedSpec = objectAt(applied, 'spec');
    const names = new Set<string>();
    const unnamed = new Set<number>();
    for (const port of arrayAt(appliedSpec, 'ports') ?? []) {
      if (!isObject(port)) continue;
      const nodePort = Number(port.nodePort);
      if (!(nodePort > 0)) continue;
      if (typeof port.name === 'string') names.add(port.name);
      else unnamed.add(nodePort);
    }
    const health = Number(appliedSpec?.healthCheckNodePort);
    return {
      keeps: (port) =>
        typeof port.name === 'string' && port.name !== ''
          ? names.has(port.name)
          : unnamed.has(Number(port.nodePort)),
      healthCheckNodePort: health > 0 || managedHealthCheckNodePort(object),
    };
  }
  const managed = new Set<string>();
  for (const fields of managedFieldSets(object)) {
    for (const [key, port] of Object.entries(objectAt(objectAt(fields, 'f:spec'), 'f:ports') ?? {})) {
      if (isObject(port) && Object.hasOwn(port, 'f:nodePort')) managed.add(key);
    }
  }
  return {
    keeps: (port) =>
      typeof port.port === 'number' &&
      managed.has(
        `k:{"port":${port.port},"protocol":"${typeof port.protocol === 'string' ? port.protocol : 'TCP'}"}`,
      ),
    healthCheckNodePort: managedHealthCheckNodePort(object),
  };
}

function managedFieldSets(object: KubeObject): Json[] {
  return (object.metadata.managedFields ?? []).flatMap((entry) => {
    const fields = objectAt(entry, 'fieldsV1');
    return fields ? [fields] : [];
  });
}

function managedHealthCheckNodePort(object: KubeObject): boolean {
  return managedFieldSets(object).some((fields) => {
    const spec = objectAt(fields, 'f:spec');
    return spec !== undefined && Object.hasOwn(spec, 'f:healthCheckNodePort');
  });
}

// --- Controllers and comparison -----------------------------------------------------------------------------

/** The ownerReference with controller: true, if any (a pod's ReplicaSet, a ReplicaSet's Deployment, ...). */
export function controllerOf(
  object: KubeObject,
): { apiVersion: string; kind: string; name: string } | undefined {
  const owner = object.metadata.ownerReferences?.find((ref) => ref.controller === true);
  return owner ? { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name } : undefined;
}

/** Annotations a controller writes on the live object, that a restored object gets anew. */
const controllerAnnotations: Readonly<Record<string, readonly string[]>> = {
  'deployments.apps': ['deployment.kubernetes.io/revision'],
};

/**
 * The form in which the object a restore would create and the live object of the same name are compared
 * (equal ⇒ "already exists and is the same"). Pass objects in their target form: the prepared (and
 * rule-transformed) object, and the live object as read from the target cluster. The namespace and
 * storage-class mappings are NOT applied again (the live object is already in the target's terms, and a
 * mapping that swaps two names would otherwise flip it back).
 *
 * Ignored, on both sides:
 * - status, and the metadata the API server assigns (uid, resourceVersion, creationTimestamp,
 *   deletionTimestamp, deletionGracePeriodSeconds, managedFields, generation, selfLink, ownerReferences, and
 *   generateName when there is a name), as prepareForRestore removes them;
 * - the restore labels (options.restoreLabels), which an earlier restore may have set to other values;
 * - everything else prepareForRestore resets per kind: Service clusterIP/clusterIPs (unless "None"), Pod
 *   nodeName/priority/legacy token volumes, PVC binding annotations, PV claimRef uid/resourceVersion, Job
 *   controller-uid labels and generated selector, ServiceAccount legacy token secrets;
 * - Service nodePorts and healthCheckNodePort, all of them, unless preserveNodePorts (the live object has
 *   no managedFields left to tell explicit from allocated once it is compared);
 * - Deployment annotation deployment.kubernetes.io/revision (the controller counts from 1 again).
 * Kept: everything else, notably PVC spec.volumeName, finalizers and other annotations.
 */
export function comparable(groupResource: string, object: KubeObject, options: TransformOptions): KubeObject {
  const { object: out } = prepareForRestore(groupResource, object, {
    namespaceMapping: new Map(),
    storageClassMapping: new Map(),
    preserveNodePorts: options.preserveNodePorts,
    restoreLabels: {},
  });
  const labels = out.metadata.labels;
  if (labels) {
    for (const key of Object.keys(options.restoreLabels)) delete labels[key];
    if (Object.keys(labels).length === 0) delete out.metadata.labels;
  }
  removeAnnotations(out, controllerAnnotations[groupResource] ?? []);
  if (groupResource === 'services' && !options.preserveNodePorts) {
    const spec = objectAt(out, 'spec');
    for (const port of arrayAt(spec, 'ports') ?? []) if (isObject(port)) delete port.nodePort;
    if (spec) delete spec.healthCheckNodePort;
  }
  return out;
}
