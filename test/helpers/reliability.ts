// What the bad-input, fault and security tests tried and what the system did, recorded as they run:
// one JSON line per check into a file that `npm run reliability-report` (scripts/reliability-report.ts)
// turns into docs/reliability.md. The file is CAIRN_RELIABILITY_RECORD, or cairn-reliability.jsonl under
// the temporary directory; appending (one short write per line) lets test files running at once share it.
// Any test may record: call `recordReliability` once per check, after its assertions passed.
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The sections of docs/reliability.md. */
export type ReliabilitySection = 'Bad input' | 'Faults' | 'Security';

export interface ReliabilityRecord {
  section: ReliabilitySection;
  /** What was under test: `archive reader`, `volume restore (restoreSnapshot)`, ... */
  subject: string;
  /** What was tried: `random bytes`, `one byte flipped in a pack`, ... */
  tried: string;
  /** How many cases (inputs, runs, injected faults) were tried. */
  cases: number;
  /** What the system did, e.g. `refused: ArchiveCorruptError, UnsupportedArchiveVersionError`. */
  outcome: string;
  /** What was lost or written where it must not be: `nothing` when the check showed none. */
  lost: string;
}

/** The file records go to. */
export function reliabilityRecordPath(): string {
  return process.env['CAIRN_RELIABILITY_RECORD'] ?? join(tmpdir(), 'cairn-reliability.jsonl');
}

/** Appends one record (a line of JSON). */
export function recordReliability(record: ReliabilityRecord): void {
  appendFileSync(reliabilityRecordPath(), `${JSON.stringify(record)}\n`);
}

/**
 * Counts what a parser did with each case: `accepted`, or the name of the error class it refused with.
 * `summary()` names the outcomes without their counts, which depend on the random cases drawn.
 */
export class Outcomes {
  readonly #seen = new Map<string, number>();
  cases = 0;

  add(outcome: string): void {
    this.cases += 1;
    this.#seen.set(outcome, (this.#seen.get(outcome) ?? 0) + 1);
  }

  /** `refused: A, B; the others read ...` (sorted), or `refused: ...` when every case was refused. */
  summary(): string {
    const refused = [...this.#seen.keys()].filter((k) => k !== 'accepted').sort();
    const parts = refused.length > 0 ? [`refused: ${refused.join(', ')}`] : [];
    if (this.#seen.has('accepted')) parts.push('the others read without error (still valid, or tolerated)');
    return parts.join('; ');
  }
}
