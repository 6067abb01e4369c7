// The restore wizard's form turned into the request that the preview and the restore send, with the
// problems a person can fix before asking the server. Pure (no DOM), so Node's tests import it.
import type { NamespacedConflictPolicy, RestoreRequest } from '../api/index.ts';

/** The conflict policies, with what each does (src/api/restore.ts says the same to kubectl users). */
export const CONFLICT_POLICIES: readonly { value: NamespacedConflictPolicy; label: string; help: string }[] =
  [
    {
      value: 'skip-on-conflict',
      label: 'Skip existing objects',
      help: 'An object that already exists is kept; a warning says when it differs from the backup.',
    },
    {
      value: 'update-on-conflict',
      label: 'Update existing objects',
      help: "An object that already exists is replaced by the backup's.",
    },
    {
      value: 'fail-on-conflict',
      label: 'Fail on a difference',
      help: 'An object that exists and differs from the backup is an error of the restore.',
    },
    {
      value: 'delete-and-restore',
      label: 'Delete and restore',
      help: 'The target namespaces are deleted first, then restored from the backup.',
    },
  ];

export interface RestoreForm {
  backupName: string;
  /** The namespaces to restore; undefined restores every namespace the backup holds. */
  namespaces: string[] | undefined;
  /** Rows of the mapping table as typed; rows left empty are ignored. */
  mappings: { from: string; to: string }[];
  policy: NamespacedConflictPolicy;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Namespaces typed into one field, separated by commas or spaces: each once, in the order typed. */
export function parseNamespaceList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((n) => n !== ''))];
}

/** The request of a form, or the problems that keep it from being sent. */
export function restoreRequest(form: RestoreForm): { request: RestoreRequest } | { problems: string[] } {
  const problems: string[] = [];
  if (form.backupName === '') problems.push('choose a backup');
  if (form.namespaces !== undefined) {
    if (form.namespaces.length === 0) problems.push('choose at least one namespace');
    for (const n of form.namespaces)
      if (!DNS_LABEL.test(n)) problems.push(`namespace "${n}" is not a valid name`);
  }
  const mapping: Record<string, string> = {};
  for (const { from: rawFrom, to: rawTo } of form.mappings) {
    const from = rawFrom.trim();
    const to = rawTo.trim();
    if (from === '' && to === '') continue;
    if (from === '' || to === '') {
      problems.push(`a mapping needs both namespaces (${from || '?'} → ${to || '?'})`);
      continue;
    }
    for (const n of [from, to]) if (!DNS_LABEL.test(n)) problems.push(`namespace "${n}" is not a valid name`);
    if (from in mapping) problems.push(`namespace "${from}" is mapped twice`);
    else if (form.namespaces !== undefined && !form.namespaces.includes(from))
      problems.push(`namespace "${from}" is mapped but not restored`);
    mapping[from] = to;
  }
  if (problems.length > 0) return { problems };
  const request: RestoreRequest = { backupName: form.backupName, namespacedConflictPolicy: form.policy };
  if (form.namespaces !== undefined) request.includedNamespaces = form.namespaces;
  if (Object.keys(mapping).length > 0) request.namespaceMapping = mapping;
  return { request };
}
