// Which fields the Kubernetes API refuses to change on an existing object (its update validation), per
// group resource: the one place the restore knows it. A policy that asks for the backup's version of an
// object whose immutable fields differ deletes the live object and creates the backup's (decide.ts); an
// update (PUT) would only be refused. What the table misses, the API server still refuses: the dry run
// sends each planned update as a server-side dry run, so the plan names that failure too.
//
// Sources: k8s.io/kubernetes pkg/apis/*/validation (ValidateServiceUpdate, ValidateJobSpecUpdate,
// ValidatePersistentVolumeClaimUpdate, ValidatePersistentVolumeUpdate, ValidateStorageClassUpdate,
// ValidateStatefulSetUpdate, ValidateDeploymentUpdate, ValidateRoleBindingUpdate, ValidateConfigMapUpdate,
// ValidateSecretUpdate, ValidatePodUpdate, ValidatePriorityClassUpdate, ValidateCustomResourceDefinitionUpdate).
import type { KubeObject } from '../kube/index.ts';
import type { DiffEntry } from './diff.ts';

interface ImmutableRule {
  /** JSON pointers (unescaped; a `*` segment matches any key or index) the API refuses to change. */
  fields: readonly string[];
  /** Below these, changes are allowed: they carve mutable parts out of `fields`. */
  except?: readonly string[];
  /** The rule holds only for such a live object (a ConfigMap marked immutable). */
  when?: (live: KubeObject) => boolean;
}

const markedImmutable = (live: KubeObject) => live.immutable === true;
const selectorOnly: readonly ImmutableRule[] = [{ fields: ['/spec/selector'] }];
const roleRefOnly: readonly ImmutableRule[] = [{ fields: ['/roleRef'] }];

const IMMUTABLE: Readonly<Record<string, readonly ImmutableRule[]>> = {
  // Headless ("None") to allocated or back; allocated addresses are reset on both sides before comparing.
  services: [{ fields: ['/spec/clusterIP', '/spec/clusterIPs'] }],
  'jobs.batch': [
    {
      fields: [
        '/spec/selector',
        '/spec/template',
        '/spec/completions',
        '/spec/completionMode',
        '/spec/podFailurePolicy',
        '/spec/successPolicy',
        '/spec/backoffLimitPerIndex',
        '/spec/managedBy',
      ],
    },
  ],
  persistentvolumeclaims: [
    { fields: ['/spec'], except: ['/spec/resources/requests', '/spec/volumeAttributesClassName'] },
  ],
  persistentvolumes: [
    {
      fields: ['/spec'],
      except: [
        '/spec/capacity',
        '/spec/accessModes',
        '/spec/claimRef',
        '/spec/persistentVolumeReclaimPolicy',
        '/spec/storageClassName',
        '/spec/mountOptions',
        '/spec/volumeAttributesClassName',
      ],
    },
  ],
  'storageclasses.storage.k8s.io': [
    { fields: ['/provisioner', '/parameters', '/reclaimPolicy', '/volumeBindingMode'] },
  ],
  'deployments.apps': selectorOnly,
  'replicasets.apps': selectorOnly,
  'daemonsets.apps': selectorOnly,
  'statefulsets.apps': [
    {
      fields: ['/spec'],
      except: [
        '/spec/replicas',
        '/spec/template',
        '/spec/updateStrategy',
        '/spec/minReadySeconds',
        '/spec/ordinals',
        '/spec/revisionHistoryLimit',
        '/spec/persistentVolumeClaimRetentionPolicy',
      ],
    },
  ],
  'rolebindings.rbac.authorization.k8s.io': roleRefOnly,
  'clusterrolebindings.rbac.authorization.k8s.io': roleRefOnly,
  configmaps: [{ fields: ['/data', '/binaryData', '/immutable'], when: markedImmutable }],
  secrets: [{ fields: ['/type'] }, { fields: ['/data', '/immutable'], when: markedImmutable }],
  pods: [
    {
      fields: ['/spec'],
      except: [
        '/spec/containers/*/image',
        '/spec/initContainers/*/image',
        '/spec/activeDeadlineSeconds',
        '/spec/tolerations',
        '/spec/terminationGracePeriodSeconds',
        '/spec/schedulingGates',
      ],
    },
  ],
  'priorityclasses.scheduling.k8s.io': [{ fields: ['/value', '/preemptionPolicy'] }],
  'customresourcedefinitions.apiextensions.k8s.io': [{ fields: ['/spec/scope'] }],
};

/**
 * Kinds never deleted to be created again: deleting one deletes far more than itself (a definition takes
 * every object of its kind with it, a namespace everything in it, a claim or a volume the data on the
 * volume when its reclaim policy is Delete). Their immutable changes fail the item: a conflict policy
 * never destroys data.
 */
const NEVER_RECREATED: Readonly<Record<string, string>> = {
  'customresourcedefinitions.apiextensions.k8s.io': 'deleting a definition deletes every object of its kind',
  namespaces: 'deleting a namespace deletes everything in it',
  persistentvolumeclaims:
    "deleting a claim can delete its volume's data; if the backup's version is really wanted, delete the claim by hand (or use delete-and-restore on its namespace)",
  persistentvolumes:
    "deleting a volume can delete its data; if the backup's version is really wanted, delete the volume by hand",
};

/**
 * Fields the target cluster fills in when the backup's object leaves them out: a difference there is
 * no difference. A claim whose volume is provisioned anew has no volumeName until it binds.
 */
const FILLED_IN_WHEN_ABSENT: Readonly<Record<string, readonly string[]>> = {
  persistentvolumeclaims: ['/spec/volumeName'],
};

const segments = (pointer: string): string[] =>
  pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/** Whether `path` is `pattern` or below it (a `*` in the pattern matches any one segment). */
function atOrBelow(path: readonly string[], pattern: readonly string[]): boolean {
  if (path.length < pattern.length) return false;
  return pattern.every((p, i) => p === '*' || p === path[i]);
}

/**
 * The paths of `diff` (live → desired, from diffObjects) that the API refuses to change on `live`. A
 * difference above an immutable field (a whole `/spec` added) counts as touching it.
 */
export function immutableChanges(
  groupResource: string,
  live: KubeObject,
  diff: readonly DiffEntry[],
): string[] {
  const rules = (IMMUTABLE[groupResource] ?? []).filter((rule) => !rule.when || rule.when(live));
  if (rules.length === 0) return [];
  const out: string[] = [];
  for (const entry of diff) {
    const path = segments(entry.path);
    const touches = rules.some((rule) => {
      const exempt = (rule.except ?? []).some((e) => atOrBelow(path, segments(e)));
      if (exempt) return false;
      return rule.fields.some((f) => {
        const field = segments(f);
        return atOrBelow(path, field) || atOrBelow(field, path);
      });
    });
    if (touches) out.push(entry.path);
  }
  return out;
}

/** Why objects of this kind are never deleted to be created again, or undefined. */
export function neverRecreated(groupResource: string): string | undefined {
  return NEVER_RECREATED[groupResource];
}

/** `diff` without the differences that are none: fields the desired object leaves to the cluster. */
export function withoutFilledIn(groupResource: string, diff: readonly DiffEntry[]): DiffEntry[] {
  const filled = FILLED_IN_WHEN_ABSENT[groupResource] ?? [];
  return diff.filter((entry) => !(filled.includes(entry.path) && !Object.hasOwn(entry, 'after')));
}
