// A set of pods as hook sets name them (Velero's hooks.resources, for backups and restores alike): the
// namespaces (glob patterns), "pods" among the resources when resources are named, and a label selector
// in text form. One place decides which pods a set selects, and what in a set cannot be read.
import { labelSelectorProblem, matchesLabels, parseLabelSelector } from '../api/index.ts';
import { compileNamespaceFilter, type NamespaceFilterProblem } from './namespaces.ts';

export interface PodSetSpec {
  includedNamespaces?: string[] | undefined;
  excludedNamespaces?: string[] | undefined;
  includedResources?: string[] | undefined;
  excludedResources?: string[] | undefined;
  labelSelector?: string | undefined;
}

const isPods = (name: string) => ['pods', 'pod', '*'].includes(name.toLowerCase());

/** Whether the set selects a pod of this namespace and these labels. */
export function podSetSelects(set: PodSetSpec, namespace: string, labels?: Record<string, string>): boolean {
  if (!compileNamespaceFilter(set).filter.selected(namespace)) return false;
  if ((set.includedResources ?? []).length > 0 && !(set.includedResources ?? []).some(isPods)) return false;
  if ((set.excludedResources ?? []).some((name) => isPods(name) && name !== '*')) return false;
  if (set.labelSelector === undefined) return true;
  return matchesLabels(parseLabelSelector(set.labelSelector), labels);
}

/** What in the set cannot be read (namespace patterns, the label selector), fields prefixed with `at`. */
export function podSetProblems(set: PodSetSpec, at: string): NamespaceFilterProblem[] {
  const problems = compileNamespaceFilter(set).problems.map((p) => ({ ...p, field: `${at}.${p.field}` }));
  if (set.labelSelector !== undefined) {
    const problem = labelSelectorProblem(set.labelSelector);
    if (problem) problems.push({ field: `${at}.labelSelector`, value: set.labelSelector, message: problem });
  }
  return problems;
}
