// A compact structural diff of two JSON values, for telling a user where a live object differs from the
// backed-up one (conflicts, dry runs, verify). A Secret's values never appear in a diff: diffItems compares
// them by SHA-256 and shows a short prefix of the hash (docs/restore-transforms.md, "Comparing with a live object").
import { createHmac, randomBytes } from 'node:crypto';

export interface DiffEntry {
  /** A JSON pointer (RFC 6901: `/` in keys is `~1`, `~` is `~0`), e.g. /spec/replicas; "" is the whole value. */
  path: string;
  /** The value in a (a Concealed for a Secret's value); absent when the path exists only in b (an addition). */
  before?: unknown;
  /** The value in b (a Concealed for a Secret's value); absent when the path exists only in a (a removal). */
  after?: unknown;
}

/** How many entries diffObjects returns unless told otherwise. */
export const DEFAULT_DIFF_MAX = 20;

/** Hex digits of a concealed value's SHA-256 that are shown: enough to tell two values apart at a glance. */
const SHOWN_HASH_DIGITS = 4;

/**
 * The key of this process's value hashes. A plain SHA-256 prefix of a guessable value (a short password,
 * "true", a port) would let whoever reads a log or record confirm a guess offline, and would tell the same
 * value apart across restores; keyed anew for each run, the hashes only say equal or different within it.
 */
const HASH_KEY = randomBytes(32);

/**
 * A secret value in a diff: compared by its whole keyed SHA-256 (HMAC, HASH_KEY), shown (and serialized,
 * in JSON and YAML) as a short prefix of it only, so that no output, log or record can carry the value.
 */
export class Concealed {
  readonly #sha256: string;
  constructor(value: unknown) {
    const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
    this.#sha256 = createHmac('sha256', HASH_KEY).update(text).digest('hex');
  }
  equals(other: Concealed): boolean {
    return this.#sha256 === other.#sha256;
  }
  /** `3f2a…` */
  get shortHash(): string {
    return `${this.#sha256.slice(0, SHOWN_HASH_DIGITS)}…`;
  }
  toJSON(): string {
    return `sha256:${this.shortHash}`;
  }
  toString(): string {
    return this.toJSON();
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Concealed);

/** The annotation `kubectl apply` keeps the whole applied object in: a Secret's values included. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A copy of a Secret with each value of data and stringData, and its last-applied annotation, concealed. */
function concealSecret(object: unknown): unknown {
  if (!isObject(object)) return object;
  const out: Record<string, unknown> = { ...object };
  for (const field of ['data', 'stringData']) {
    const values = out[field];
    if (values === undefined) continue;
    out[field] = isObject(values)
      ? Object.fromEntries(
          Object.entries(values).map(([k, v]) => [k, v === undefined ? v : new Concealed(v)]),
        )
      : new Concealed(values);
  }
  const metadata = out.metadata;
  if (
    isObject(metadata) &&
    isObject(metadata.annotations) &&
    metadata.annotations[LAST_APPLIED] !== undefined
  ) {
    out.metadata = {
      ...metadata,
      annotations: {
        ...metadata.annotations,
        [LAST_APPLIED]: new Concealed(metadata.annotations[LAST_APPLIED]),
      },
    };
  }
  return out;
}

/**
 * diffObjects of two versions of one item of `groupResource` (`secrets`, `deployments.apps`, ...): for a
 * Secret, the values of data and stringData and the last-applied-configuration annotation are compared by
 * hash and appear in the entries as Concealed, never as values.
 */
export function diffItems(
  groupResource: string,
  a: unknown,
  b: unknown,
  options: { max?: number } = {},
): DiffEntry[] {
  if (groupResource !== 'secrets') return diffObjects(a, b, options);
  return diffObjects(concealSecret(a), concealSecret(b), options);
}

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
    } else if (x instanceof Concealed && y instanceof Concealed) {
      if (!x.equals(y)) out.push({ path, before: x, after: y });
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

/** A concealed value as `3f2a…`, anything else as show() has it. */
const hashOf = (value: unknown) => (value instanceof Concealed ? value.shortHash : show(value));

/**
 * One line per entry: `~ /spec/replicas: 3 → 1` (changed), `+ /metadata/labels/x: "y"` (only in b),
 * `- /data/old` (only in a). Values are JSON, cut to about 60 characters. A concealed (Secret) value shows
 * as a hash prefix: `~ /data/password: changed (sha256 3f2a…→9b1c…)`, `+ /data/token: added (sha256 3f2a…)`.
 */
export function formatDiff(entries: readonly DiffEntry[]): string {
  return entries
    .map((e) => {
      const path = e.path === '' ? '/' : e.path;
      const hasBefore = Object.hasOwn(e, 'before');
      const hasAfter = Object.hasOwn(e, 'after');
      const concealed = e.before instanceof Concealed || e.after instanceof Concealed;
      if (hasBefore && hasAfter && concealed)
        return `~ ${path}: changed (sha256 ${hashOf(e.before)}→${hashOf(e.after)})`;
      if (hasBefore && hasAfter) return `~ ${path}: ${show(e.before)} → ${show(e.after)}`;
      if (hasAfter && concealed) return `+ ${path}: added (sha256 ${hashOf(e.after)})`;
      if (hasAfter) return `+ ${path}: ${show(e.after)}`;
      return `- ${path}`;
    })
    .join('\n');
}
