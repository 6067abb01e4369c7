// What a backup includes: the filters of a backup spec compiled against the cluster's served resources.
//
// Field meanings follow Velero's velero.io/v1 BackupSpec:
// - includedNamespaces / excludedNamespaces: names or glob patterns (`*`, `?`, `[abc]`); empty includes = all.
// - includedResources / excludedResources: any name kubectl accepts (plural, singular, short, kind,
//   resource.group); `*` = all. Unknown names are errors, not silently ignored.
// - includeClusterResources: undefined = auto (cluster-scoped objects only when related to the selection,
//   or everything cluster-scoped when all namespaces are selected); true = every cluster-scoped resource
//   that the resource filters admit; false = none.
// - Nodes and events are never backed up unless named explicitly in includedResources.
import { compileNamespaceFilter, type ApiResource, type ResourceMapper } from '../kube/index.ts';
import { EXCLUDE_FROM_BACKUP_LABELS, labelSelectorProblem } from '../api/index.ts';

export interface SelectionSpec {
  includedNamespaces?: string[] | undefined;
  excludedNamespaces?: string[] | undefined;
  includedResources?: string[] | undefined;
  excludedResources?: string[] | undefined;
  includeClusterResources?: boolean | undefined;
  /** A label selector in the API server's string form (`app=web,tier!=db`). */
  labelSelector?: string | undefined;
  /** Objects matching any of these selectors are included (Velero's orLabelSelectors). */
  orLabelSelectors?: string[] | undefined;
  /** false is a shortcut for excluding secrets (Backup for GKE's includeSecrets). */
  includeSecrets?: boolean | undefined;
}

/** A problem with the spec itself: the backup is FailedValidation and nothing is written. */
export interface ValidationProblem {
  field: string;
  value: string;
  message: string;
}

export interface Selection {
  /** Namespaced resources to list, preferred versions. */
  namespaced: ApiResource[];
  /** Cluster-scoped resources to list in full (includeClusterResources=true, or all namespaces in auto mode). */
  clusterScoped: ApiResource[];
  /** Cluster-scoped resources whose related objects may still follow the selection in auto mode. */
  relatedClusterScoped: ApiResource[];
  /** Whether a namespace name is selected. */
  namespaceSelected: (name: string) => boolean;
  /** Whether the namespace filters select every namespace (then the Namespace objects are all included). */
  allNamespaces: boolean;
  /** Whether includedNamespaces names namespaces (anything but unset or `*`): a label selector keeps them. */
  namespacesNamed: boolean;
  /** The label selectors to list with: one list per selector, results merged; [undefined] = no selector. */
  labelSelectors: (string | undefined)[];
  /**
   * Whether a related item (a pod's claim, a claim's volume, a custom object's definition) may follow its
   * owner: yes unless its resource is excluded, or it is cluster-scoped and includeClusterResources=false.
   */
  relatedAdmitted: (resource: ApiResource) => boolean;
  /** Whether the Namespace objects of the selected namespaces are backed up (unless namespaces are excluded). */
  includeNamespaceObjects: boolean;
}

/** The exclude-from-backup label (EXCLUDE_FROM_BACKUP_LABELS) an object carries set to "true", if any. */
export function excludedFromBackupBy(labels: Record<string, string> | undefined): string | undefined {
  if (!labels) return undefined;
  return EXCLUDE_FROM_BACKUP_LABELS.find((label) => labels[label] === 'true');
}

/** The names a user may give the core Secret resource by, as kubectl resolves them. */
const SECRET_NAMES = new Set(['secrets', 'secret', 'Secret', 'secrets.', 'secret.']);

/**
 * Whether a backup of this spec takes Secrets, and if not, which field leaves them out: the same rule as
 * compileSelection's, told from the spec alone (describe has no cluster to resolve names against).
 */
export function secretsSelection(spec: SelectionSpec): { included: boolean; reason?: string } {
  if (spec.includeSecrets === false) return { included: false, reason: 'includeSecrets=false' };
  if ((spec.excludedResources ?? []).some((r) => SECRET_NAMES.has(r)))
    return { included: false, reason: 'in the excluded resources' };
  const included = spec.includedResources ?? [];
  if (included.length > 0 && !included.includes('*') && !included.some((r) => SECRET_NAMES.has(r)))
    return { included: false, reason: 'not in the included resources' };
  return { included: true };
}

/** Resources that are never backed up unless named in includedResources. */
export const neverByDefault = new Set(['nodes', 'events', 'events.events.k8s.io']);

export function compileSelection(
  spec: SelectionSpec,
  mapper: ResourceMapper,
): { selection?: Selection; problems: ValidationProblem[] } {
  const namespaces = compileNamespaceFilter(spec);
  const problems: ValidationProblem[] = [...namespaces.problems];
  const allNamespaces = namespaces.filter.all;
  const namespaceSelected = namespaces.filter.selected;

  const resolveAll = (field: string, names: string[] | undefined) => {
    const out = new Set<string>();
    for (const name of names ?? []) {
      if (name === '*') continue;
      const found = mapper.tryResolve(name);
      if (found) out.add(found.groupResource);
      else problems.push({ field, value: name, message: 'the cluster serves no resource of that name' });
    }
    return out;
  };
  const includeAll =
    (spec.includedResources ?? []).length === 0 || (spec.includedResources ?? []).includes('*');
  const includedResources = resolveAll('includedResources', spec.includedResources);
  const excludedResources = resolveAll('excludedResources', spec.excludedResources);
  if (spec.includeSecrets === false) excludedResources.add('secrets');

  const selectors = [spec.labelSelector, ...(spec.orLabelSelectors ?? [])].filter(
    (s): s is string => s !== undefined,
  );
  for (const [i, selector] of selectors.entries()) {
    // A backup stores its selectors for Velero, as metav1.LabelSelector objects: no `>` or `<`.
    const problem = labelSelectorProblem(selector, { objectForm: true });
    const field = i === 0 && spec.labelSelector !== undefined ? 'labelSelector' : 'orLabelSelectors';
    if (problem) problems.push({ field, value: selector, message: problem });
  }
  if (spec.labelSelector !== undefined && (spec.orLabelSelectors ?? []).length > 0) {
    problems.push({
      field: 'orLabelSelectors',
      value: (spec.orLabelSelectors ?? []).join(' | '),
      message: 'labelSelector and orLabelSelectors cannot be used together',
    });
  }
  if (problems.length > 0) return { problems };

  const admitted = (r: ApiResource) => {
    if (!r.verbs.includes('list') || !r.verbs.includes('get')) return false;
    if (excludedResources.has(r.groupResource)) return false;
    if (includedResources.has(r.groupResource)) return true;
    return includeAll && !neverByDefault.has(r.groupResource);
  };
  const candidates = mapper.preferred.filter(admitted);
  const namespaced = candidates.filter((r) => r.namespaced);
  const clusterCandidates = candidates.filter((r) => !r.namespaced);
  const explicitlyNamed = (r: ApiResource) => includedResources.has(r.groupResource);

  let clusterScoped: ApiResource[];
  let relatedClusterScoped: ApiResource[];
  if (spec.includeClusterResources === false) {
    clusterScoped = [];
    relatedClusterScoped = [];
  } else if (spec.includeClusterResources === true) {
    clusterScoped = clusterCandidates;
    relatedClusterScoped = [];
  } else {
    // Auto: everything cluster-scoped when all namespaces are backed up (a full-cluster backup), kinds the
    // user named explicitly, and otherwise only what items of the selection pull in.
    clusterScoped = clusterCandidates.filter((r) => (allNamespaces && includeAll) || explicitlyNamed(r));
    relatedClusterScoped = clusterCandidates.filter((r) => !clusterScoped.includes(r));
  }
  return {
    problems,
    selection: {
      namespaced,
      clusterScoped,
      relatedClusterScoped,
      namespaceSelected,
      allNamespaces,
      namespacesNamed: !(spec.includedNamespaces ?? []).every((n) => n === '*'),
      labelSelectors: selectors.length > 0 ? selectors : [undefined],
      relatedAdmitted: (r) =>
        r.verbs.includes('list') &&
        !excludedResources.has(r.groupResource) &&
        (r.namespaced || spec.includeClusterResources !== false),
      includeNamespaceObjects: !excludedResources.has('namespaces'),
    },
  };
}
