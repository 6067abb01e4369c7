// What the restore does with one item, given the live object of the same name (or none): a pure decision,
// the same in a dry run and in a real restore, so that the plan is what the restore then does. The engine
// carries it out (apply.ts). docs/restore.md#conflicts explains each outcome.
import type { ClusterConflictPolicy, NamespacedConflictPolicy } from '../api/index.ts';
import type { KubeObject } from '../kube/index.ts';
import { DEFAULT_DIFF_MAX, diffItems, type DiffEntry } from './diff.ts';
import { immutableChanges, neverRecreated, withoutFilledIn } from './immutable.ts';
import { comparable, type TransformOptions } from './transform.ts';

export type ConflictPolicy = NamespacedConflictPolicy | ClusterConflictPolicy;

export type Decision =
  /** Nothing of that name is live. */
  | { action: 'create' }
  /** The live object is the backup's, after the reset rules. */
  | { action: 'unchanged' }
  /** The live object differs and is kept; `warn` when the policy says to tell (skip-on-conflict). */
  | { action: 'skip'; diff: DiffEntry[]; warn: boolean }
  /** The live object differs and the policy refuses it, or it cannot be replaced; `reason` says which. */
  | { action: 'fail'; diff: DiffEntry[]; reason: string }
  /** The live object is replaced by the backup's in place (PUT). */
  | { action: 'update'; diff: DiffEntry[] }
  /** Fields the API will not change differ: the live object is deleted and the backup's created. */
  | { action: 'recreate'; diff: DiffEntry[]; immutable: string[] };

export interface DecisionContext {
  groupResource: string;
  /** The policy of the item's scope. */
  policy: ConflictPolicy;
  /** The restore's options (the comparison ignores what they reset). */
  transform: TransformOptions;
}

/**
 * Decides the fate of `desired` (the object as the restore would create it: prepared and transformed)
 * against `live` (as read from the target cluster, or undefined when there is none).
 */
export function decide(
  live: KubeObject | undefined,
  desired: KubeObject,
  context: DecisionContext,
): Decision {
  if (!live) return { action: 'create' };
  const { groupResource, policy, transform } = context;
  const all = withoutFilledIn(
    groupResource,
    diffItems(
      groupResource,
      comparable(groupResource, live, transform),
      comparable(groupResource, desired, transform),
      { max: Number.POSITIVE_INFINITY },
    ),
  );
  if (all.length === 0) return { action: 'unchanged' };
  // What the user is shown: the first differences (immutable ones are looked for in all of them).
  const diff = all.slice(0, DEFAULT_DIFF_MAX);
  switch (policy) {
    case 'skip-on-conflict':
      return { action: 'skip', diff, warn: true };
    case 'use-existing-version':
      return { action: 'skip', diff, warn: false };
    case 'fail-on-conflict':
      return {
        action: 'fail',
        diff,
        reason: 'already exists and differs from the backup (fail-on-conflict)',
      };
    case 'update-on-conflict':
    case 'use-backup-version':
    case 'delete-and-restore': {
      // (delete-and-restore meets live objects that came back after their namespace was deleted.)
      const immutable = immutableChanges(groupResource, live, all);
      if (immutable.length === 0) return { action: 'update', diff };
      const refusal = neverRecreated(groupResource);
      if (refusal)
        return {
          action: 'fail',
          diff,
          reason: `cannot be updated: ${immutable.join(', ')} cannot change, and it is not deleted to be created again (${refusal})`,
        };
      // A finalizer would hold the deletion: the live object would stay Terminating and the backup's
      // never be created. Refused before anything is deleted.
      const finalizers = live.metadata.finalizers ?? [];
      if (finalizers.length > 0)
        return {
          action: 'fail',
          diff,
          reason: `cannot be updated: ${immutable.join(', ')} cannot change, and it is not deleted to be created again (it has finalizers that would hold the deletion: ${finalizers.join(', ')})`,
        };
      return { action: 'recreate', diff, immutable };
    }
  }
}
