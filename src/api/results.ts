// Per-item problems as data: warnings and errors grouped as Velero groups them (Cairn itself, the cluster
// scope, each namespace), counted for the status and stored as <name>-results.gz. Backups and restores
// both report through it.
import type { ResultGroup } from './backup.ts';

export type Scope = { namespace: string } | 'cluster' | 'cairn';

export class Results {
  readonly errors: ResultGroup = {};
  readonly warnings: ResultGroup = {};
  errorCount = 0;
  warningCount = 0;

  error(scope: Scope, message: string): void {
    add(this.errors, scope, message);
    this.errorCount++;
  }

  warning(scope: Scope, message: string): void {
    add(this.warnings, scope, message);
    this.warningCount++;
  }

  /**
   * The stored form, Velero's: {"errors": Result, "warnings": Result}, where a Result's messages about the
   * tool itself are under `velero` (Velero's Go type has no other key for them). fromStoredResults reads it.
   */
  toJSON(): { errors: StoredResultGroup; warnings: StoredResultGroup } {
    return { errors: stored(this.errors), warnings: stored(this.warnings) };
  }
}

/** Velero's Result (pkg/util/results): velero, cluster, namespaces. */
export interface StoredResultGroup {
  velero?: string[];
  cluster?: string[];
  namespaces?: Record<string, string[]>;
}

function stored(group: ResultGroup): StoredResultGroup {
  const { cairn, ...rest } = group;
  return { ...(cairn ? { velero: cairn } : {}), ...rest };
}

function add(group: ResultGroup, scope: Scope, message: string): void {
  if (scope === 'cairn') (group.cairn ??= []).push(message);
  else if (scope === 'cluster') (group.cluster ??= []).push(message);
  else ((group.namespaces ??= {})[scope.namespace] ??= []).push(message);
}

/** The scope of an item: its namespace, or the cluster. */
export function scopeOf(namespace: string | undefined): Scope {
  return namespace ? { namespace } : 'cluster';
}
