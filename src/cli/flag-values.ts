// Parsers of flag values whose rules only the API layer holds, label selectors: refused as the flag is
// read (commander then names the flag and the value), not when the spec they go into is checked, which
// names the spec's field and may come after a cluster or a store was contacted. Apart from options.ts so
// that commands which take no selector do not load the API layer.
import { InvalidArgumentError } from 'commander';
import { labelSelectorProblem } from '../api/index.ts';
import { nonEmpty } from './options.ts';

/** A label selector (`app=web,tier!=db`), as the API server parses it. */
export function labelSelector(value: string): string {
  const problem = labelSelectorProblem(nonEmpty(value));
  if (problem) throw new InvalidArgumentError(`not a label selector: ${problem}`);
  return value;
}

/** A repeatable label selector flag (--or-selector). */
export function collectLabelSelectors(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), labelSelector(value)];
}
