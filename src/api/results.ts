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

  /** The stored form: {"errors": Result, "warnings": Result}. */
  toJSON(): { errors: ResultGroup; warnings: ResultGroup } {
    return { errors: this.errors, warnings: this.warnings };
  }
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
