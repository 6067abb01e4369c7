// Namespace filters as Velero's specs give them (includedNamespaces / excludedNamespaces: names or glob
// patterns, `*` for all), compiled once for backups and restores alike.
import { globToRegExp } from '../api/index.ts';

export interface NamespaceFilterProblem {
  field: string;
  value: string;
  message: string;
}

export interface NamespaceFilter {
  /** Whether a namespace name is selected. */
  selected: (namespace: string) => boolean;
  /** Whether every namespace is selected (no include list, or `*`, and nothing excluded). */
  all: boolean;
}

const nameLike = /^[a-z0-9*?[\]-][a-z0-9.*?[\]-]*$/;

/** Compiles the two lists; bad patterns are problems naming the field and the value. */
export function compileNamespaceFilter(spec: {
  includedNamespaces?: string[] | undefined;
  excludedNamespaces?: string[] | undefined;
}): { filter: NamespaceFilter; problems: NamespaceFilterProblem[] } {
  const problems: NamespaceFilterProblem[] = [];
  const compile = (field: string, patterns: string[] | undefined) => {
    const out: RegExp[] = [];
    for (const pattern of patterns ?? []) {
      if (!nameLike.test(pattern)) {
        problems.push({ field, value: pattern, message: 'not a namespace name or glob pattern' });
        continue;
      }
      try {
        out.push(globToRegExp(pattern));
      } catch (error) {
        problems.push({ field, value: pattern, message: (error as Error).message });
      }
    }
    return out;
  };
  const included = compile('includedNamespaces', spec.includedNamespaces);
  const excluded = compile('excludedNamespaces', spec.excludedNamespaces);
  return {
    problems,
    filter: {
      all: (included.length === 0 || (spec.includedNamespaces ?? []).includes('*')) && excluded.length === 0,
      selected: (ns) =>
        (included.length === 0 || included.some((re) => re.test(ns))) && !excluded.some((re) => re.test(ns)),
    },
  };
}
