// The overview's charts as data: one line per schedule over the backups' start times, in the aligned
// columns uPlot draws. Pure (no DOM), so Node's tests import it.
import type { BackupRow } from '../api/index.ts';

/** The label of the line of backups made by hand (no schedule). */
export const BY_HAND = 'by hand';

export interface ChartData {
  /** Start times, in seconds since the epoch, ascending. */
  x: number[];
  /** One line per schedule, sorted by name (backups by hand last); null where another line has a point. */
  lines: { label: string; values: (number | null)[] }[];
  /** The number of backups drawn. */
  points: number;
}

/** The chart of `value` (a duration, a size) over the rows that have both a start time and that value. */
export function chartData(
  rows: readonly BackupRow[],
  value: (row: BackupRow) => number | undefined,
): ChartData {
  const drawn = rows
    .map((row) => ({
      at: row.started === undefined ? NaN : Date.parse(row.started) / 1000,
      label: row.schedule || BY_HAND,
      value: value(row),
    }))
    .filter(
      (p): p is { at: number; label: string; value: number } => !Number.isNaN(p.at) && p.value !== undefined,
    )
    .sort((a, b) => a.at - b.at);
  const x = [...new Set(drawn.map((p) => p.at))];
  const index = new Map(x.map((at, i) => [at, i]));
  const labels = [...new Set(drawn.map((p) => p.label))].sort((a, b) =>
    a === BY_HAND ? 1 : b === BY_HAND ? -1 : a.localeCompare(b),
  );
  const lines = labels.map((label) => ({ label, values: x.map((): number | null => null) }));
  const line = new Map(lines.map((l) => [l.label, l]));
  for (const p of drawn) {
    const values = line.get(p.label)?.values;
    const i = index.get(p.at);
    if (values && i !== undefined) values[i] = p.value;
  }
  return { x, lines, points: drawn.length };
}
