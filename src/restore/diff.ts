// A compact structural diff of two JSON values, for telling a user where a live object differs from the
// backed-up one (conflicts, dry runs, verify).

export interface DiffEntry {
  /** A JSON pointer (RFC 6901: `/` in keys is `~1`, `~` is `~0`), e.g. /spec/replicas; "" is the whole value. */
  path: string;
  /** The value in a; absent when the path exists only in b (an addition). */
  before?: unknown;
  /** The value in b; absent when the path exists only in a (a removal). */
  after?: unknown;
}

/** How many entries diffObjects returns unless told otherwise. */
export const DEFAULT_DIFF_MAX = 20;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Where b differs from a: objects key by key (keys in code-point order, so the order never depends on how the
 * objects were built), arrays element by element (a longer array adds, a shorter one removes, at the end),
 * anything else by value. A property whose value is undefined counts as absent. Stops after `max` entries
 * (default 20): to know whether there are more, ask for one more than you show.
 */
export function diffObjects(a: unknown, b: unknown, options: { max?: number } = {}): DiffEntry[] {
  const max = options.max ?? DEFAULT_DIFF_MAX;
  const out: DiffEntry[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (out.length >= max) return;
    if (isObject(x) && isObject(y)) {
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
      for (const key of keys) {
        if (out.length >= max) return;
        const [vx, vy] = [x[key], y[key]];
        const child = `${path}/${escape(key)}`;
        if (vx === undefined && vy === undefined) continue;
        if (vx === undefined) out.push({ path: child, after: vy });
        else if (vy === undefined) out.push({ path: child, before: vx });
        else walk(vx, vy, child);
      }
    } else if (Array.isArray(x) && Array.isArray(y)) {
      for (let i = 0; i < Math.max(x.length, y.length); i++) {
        if (out.length >= max) return;
        const child = `${path}/${i}`;
        if (i >= x.length) out.push({ path: child, after: y[i] });
        else if (i >= y.length) out.push({ path: child, before: x[i] });
        else walk(x[i], y[i], child);
      }
    } else if (x !== y) {
      if (x === undefined) out.push({ path, after: y });
      else if (y === undefined) out.push({ path, before: x });
      else out.push({ path, before: x, after: y });
    }
  };
  if (max > 0) walk(a, b, '');
  return out;
}

/** Values longer than this are cut, with an ellipsis. */
const VALUE_WIDTH = 60;

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > VALUE_WIDTH ? `${text.slice(0, VALUE_WIDTH - 1)}…` : text;
}

/**
 * One line per entry: `~ /spec/replicas: 3 → 1` (changed), `+ /metadata/labels/x: "y"` (only in b),
 * `- /data/old` (only in a). Values are JSON, cut to about 60 characters.
 */
export function formatDiff(entries: readonly DiffEntry[]): string {
  return entries
    .map((e) => {
      const path = e.path === '' ? '/' : e.path;
      const hasBefore = Object.hasOwn(e, 'before');
      const hasAfter = Object.hasOwn(e, 'after');
      if (hasBefore && hasAfter) return `~ ${path}: ${show(e.before)} → ${show(e.after)}`;
      if (hasAfter) return `+ ${path}: ${show(e.after)}`;
      return `- ${path}`;
    })
    .join('\n');
}
