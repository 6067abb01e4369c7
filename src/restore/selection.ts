// What a restore applies: a restore spec's filters compiled against the backup's contents and the target
// cluster. Field meanings follow Velero's RestoreSpec, as for backups (src/backup/selection.ts):
// - namespaces: names or globs; resources: any name kubectl accepts, resolved against the target cluster
//   first and then against the backup (a custom resource whose definition is not restored yet);
// - includeClusterResources: undefined = auto (cluster-scoped items only when related to restored items —
//   a claim's volume, a custom object's definition — or all of them when every namespace is restored);
//   true = all that the resource filters admit; false = none;
// - clusterResourceScope: only these cluster-scoped kinds (as Backup for GKE's clusterResourceRestoreScope),
//   and of them only the objects related to the restored ones (a claim's storage class, a custom object's
//   definition: related.ts), unless includeClusterResources is true or includedResources names the kind;
// - labelSelector / orLabelSelectors match the labels as backed up.
import { dnsLabelProblem, type RestoreSpec } from '../api/index.ts';
import { compileNamespaceFilter, type ResourceMapper } from '../kube/index.ts';
import { matchesLabels, parseLabelSelector, type LabelSelector } from '../api/index.ts';
import { NEVER_RESTORED } from './order.ts';

export interface RestoreProblem {
  field: string;
  value: string;
  message: string;
}

/** The subset of the backup's contents the selection needs: which group resources it has, and their scope. */
export interface ContentsSummary {
  resources: ReadonlyMap<string, { groupResource: string; namespaced: boolean }>;
}

export interface RestoreSelection {
  /** Whether a resource of the backup is restored at all (before namespace and label filters). */
  resourceSelected: (groupResource: string) => boolean;
  /**
   * Whether a cluster-scoped resource is restored in full; false means only items related to restored
   * items (auto mode), or none (includeClusterResources=false).
   */
  clusterResourceInFull: (groupResource: string) => boolean;
  /** Whether related cluster-scoped items (a claim's volume, a custom object's definition) may follow. */
  relatedAdmitted: (groupResource: string) => boolean;
  /** Whether a source namespace is restored. */
  namespaceSelected: (namespace: string) => boolean;
  /** Whether every namespace of the backup is restored. */
  allNamespaces: boolean;
  /** Whether an item's backed-up labels pass the label selectors. */
  labelsSelected: (labels: Record<string, string> | undefined) => boolean;
  /** Whether the backed-up status of this resource is restored. */
  statusRestored: (groupResource: string) => boolean;
  /** Target namespace of a source namespace. */
  targetNamespace: (namespace: string) => string;
}

/**
 * Resolves a resource name the way kubectl does, against the target cluster and then the backup:
 * `deploy`, `deployment`, `deployments`, `deployments.apps`, `Deployment`; for resources the target does
 * not serve yet, the backup's group resource (`widgets.example.com`) or its plural (`widgets`).
 */
export function resolveResourceName(
  name: string,
  mapper: ResourceMapper,
  contents: ContentsSummary,
): string | undefined {
  const served = mapper.tryResolve(name);
  if (served) return served.groupResource;
  const lower = name.toLowerCase();
  if (contents.resources.has(lower)) return lower;
  const byPlural = [...contents.resources.keys()].filter((gr) => gr.split('.')[0] === lower);
  return byPlural.length === 1 ? byPlural[0] : undefined;
}

export function compileRestoreSelection(
  spec: RestoreSpec,
  mapper: ResourceMapper,
  contents: ContentsSummary,
): { selection?: RestoreSelection; problems: RestoreProblem[] } {
  const namespaces = compileNamespaceFilter(spec);
  const problems: RestoreProblem[] = [...namespaces.problems];
  const allNamespaces = namespaces.filter.all;
  const namespaceSelected = namespaces.filter.selected;

  const resolveAll = (field: string, names: string[] | undefined) => {
    const out = new Set<string>();
    for (const name of names ?? []) {
      if (name === '*') continue;
      const found = resolveResourceName(name, mapper, contents);
      if (found) out.add(found);
      else
        problems.push({
          field,
          value: name,
          message: 'neither the target cluster nor the backup has a resource of that name',
        });
    }
    return out;
  };
  const includeAll =
    (spec.includedResources ?? []).length === 0 || (spec.includedResources ?? []).includes('*');
  const includedResources = resolveAll('includedResources', spec.includedResources);
  const excludedResources = resolveAll('excludedResources', spec.excludedResources);
  for (const gr of includedResources) {
    if (NEVER_RESTORED.has(gr))
      problems.push({ field: 'includedResources', value: gr, message: 'is never restored' });
  }
  const statusIncluded = resolveAll('restoreStatus.includedResources', spec.restoreStatus?.includedResources);
  const statusAll = (spec.restoreStatus?.includedResources ?? []).includes('*');
  const statusExcluded = resolveAll('restoreStatus.excludedResources', spec.restoreStatus?.excludedResources);
  const scope = spec.clusterResourceScope
    ? resolveAll('clusterResourceScope', spec.clusterResourceScope)
    : undefined;

  const selectors: LabelSelector[] = [];
  const selectorTexts = [spec.labelSelector, ...(spec.orLabelSelectors ?? [])].filter(
    (s): s is string => s !== undefined,
  );
  for (const [i, text] of selectorTexts.entries()) {
    try {
      selectors.push(parseLabelSelector(text));
    } catch (error) {
      const field = i === 0 && spec.labelSelector !== undefined ? 'labelSelector' : 'orLabelSelectors';
      problems.push({ field, value: text, message: (error as Error).message });
    }
  }
  if (spec.labelSelector !== undefined && (spec.orLabelSelectors ?? []).length > 0) {
    problems.push({
      field: 'orLabelSelectors',
      value: (spec.orLabelSelectors ?? []).join(' | '),
      message: 'labelSelector and orLabelSelectors cannot be used together',
    });
  }
  const mapping = new Map(Object.entries(spec.namespaceMapping ?? {}));
  const targets = new Map<string, string>();
  for (const [from, to] of mapping) {
    for (const value of [from, to]) {
      if (dnsLabelProblem(value) !== undefined)
        problems.push({ field: 'namespaceMapping', value, message: 'not a namespace name' });
    }
    const other = targets.get(to);
    if (other !== undefined)
      problems.push({
        field: 'namespaceMapping',
        value: `${from}:${to}`,
        message: `namespaces ${other} and ${from} cannot both be restored into ${to}`,
      });
    targets.set(to, from);
  }
  if (problems.length > 0) return { problems };

  const resourceSelected = (gr: string) => {
    if (NEVER_RESTORED.has(gr) || excludedResources.has(gr)) return false;
    return includeAll || includedResources.has(gr);
  };
  const clusterResourceInFull = (gr: string) => {
    if (!resourceSelected(gr) || spec.includeClusterResources === false) return false;
    // A scope list narrows the kinds; of them, only related objects unless all were asked for.
    if (scope && !scope.has(gr)) return false;
    if (spec.includeClusterResources === true || includedResources.has(gr)) return true;
    return scope === undefined && allNamespaces && includeAll;
  };
  return {
    problems,
    selection: {
      resourceSelected,
      clusterResourceInFull,
      relatedAdmitted: (gr) =>
        spec.includeClusterResources !== false &&
        !NEVER_RESTORED.has(gr) &&
        !excludedResources.has(gr) &&
        (scope === undefined || scope.has(gr)),
      namespaceSelected,
      allNamespaces,
      labelsSelected: (labels) =>
        selectors.length === 0 || selectors.some((selector) => matchesLabels(selector, labels)),
      statusRestored: (gr) => (statusAll || statusIncluded.has(gr)) && !statusExcluded.has(gr),
      targetNamespace: (ns) => mapping.get(ns) ?? ns,
    },
  };
}
