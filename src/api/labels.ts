// Kubernetes label selectors, parsed and matched client-side, and name globs.
//
// The string form is the API server's (k8s.io/apimachinery/pkg/labels.Parse): comma-separated requirements
// `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`. The object form is
// metav1.LabelSelector (matchLabels + matchExpressions with In/NotIn/Exists/DoesNotExist). Both compile to the
// same LabelSelector, and keys and values are validated as the API server validates them, so a selector that
// passes here is one the API server accepts, and matches the same objects. A LabelSelector goes back to
// either form: the text (formatLabelSelector) and the object Velero stores (labelSelectorToObject).
// This is the one module of label vocabulary: parsing, validation, matching and formatting.

export type LabelOperator = 'Equals' | 'NotEquals' | 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface LabelRequirement {
  readonly key: string;
  readonly operator: LabelOperator;
  /** Sorted and without duplicates; one value for Equals/NotEquals/Gt/Lt, none for Exists/DoesNotExist. */
  readonly values: readonly string[];
}

/** All requirements must match (AND). No requirements matches everything. */
export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
}

/** The metav1.LabelSelector form, as found in Kubernetes objects and in YAML. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?: { key: string; operator: string; values?: string[] | undefined }[] | undefined;
}

/** A label selector that the API server would reject. */
export class LabelSelectorError extends Error {
  override readonly name = 'LabelSelectorError';
  /** The whole selector as given (the object form rendered as JSON). */
  readonly selector: string;
  /** The requirement at fault, as written. */
  readonly requirement: string;
  /** What is wrong with it. */
  readonly reason: string;
  /** 'syntax': not a requirement at all; 'invalid': a requirement whose key, value or operator is not allowed. */
  readonly kind: 'syntax' | 'invalid';
  constructor(selector: string, requirement: string, reason: string, kind: 'syntax' | 'invalid') {
    super(
      `label selector ${JSON.stringify(selector)}: "${requirement}" is not a label requirement: ${reason}`,
    );
    this.selector = selector;
    this.requirement = requirement;
    this.reason = reason;
    this.kind = kind;
  }
}

const nameRe = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const dnsSubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const valueRe = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why a string is not a label key (a qualified name: `[prefix/]name`), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `invalid key "${key}": at most one "/" (a DNS subdomain prefix, then a name)`;
  const name = parts[parts.length - 1] ?? '';
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '') return `invalid key "${key}": the prefix before "/" must not be empty`;
    if (prefix.length > 253 || !dnsSubdomainRe.test(prefix))
      return `invalid key "${key}": the prefix must be a lower-case DNS subdomain of at most 253 characters`;
  }
  if (name === '') return `invalid key "${key}": the name must not be empty`;
  if (name.length > 63) return `invalid key "${key}": the name must be at most 63 characters`;
  if (!nameRe.test(name))
    return `invalid key "${key}": the name must be alphanumeric, '-', '_' or '.', and start and end alphanumeric`;
  return undefined;
}

/** Why a string is not a label value (empty, or at most 63 of [A-Za-z0-9_.-] starting and ending alphanumeric). */
export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `invalid value "${value}": at most 63 characters`;
  if (!valueRe.test(value))
    return `invalid value "${value}": alphanumeric, '-', '_' or '.', starting and ending alphanumeric, or empty`;
  return undefined;
}

/** The checks of NewRequirement: the key, the number of values for the operator, each value. */
function requirementProblem(
  key: string,
  operator: LabelOperator,
  values: readonly string[],
): string | undefined {
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) return keyProblem;
  switch (operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) return `operator ${operator} needs at least one value`;
      break;
    case 'Equals':
    case 'NotEquals':
      if (values.length !== 1) return `operator ${operator} needs exactly one value`;
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length !== 0) return `operator ${operator} takes no values`;
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1) return `operator ${operator} needs exactly one value`;
      if (!integerRe.test(values[0] ?? '')) return `operator ${operator} needs an integer value`;
      break;
  }
  for (const value of values) {
    const problem = labelValueProblem(value);
    if (problem) return problem;
  }
  return undefined;
}

const integerRe = /^[+-]?\d+$/;

function requirement(key: string, operator: LabelOperator, values: Iterable<string>): LabelRequirement {
  return { key, operator, values: [...new Set(values)].sort() };
}

// --- The string form -------------------------------------------------------------------------------------

type Token =
  | { kind: 'id'; text: string }
  | { kind: 'op'; text: '!' | '!=' | '=' | '==' | '>' | '<' | '(' | ')' | ',' }
  | { kind: 'end'; text: '' };

const specials = new Set(['=', '!', '(', ')', ',', '>', '<']);
const whitespace = new Set([' ', '\t', '\r', '\n']);

/** The API server's lexer: identifiers run until whitespace or a special symbol; symbols match longest first. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (whitespace.has(c)) {
      i++;
    } else if (specials.has(c)) {
      const two = text.slice(i, i + 2);
      const symbol = two === '!=' || two === '==' ? two : c;
      tokens.push({ kind: 'op', text: symbol as '!' });
      i += symbol.length;
    } else {
      let end = i;
      while (end < text.length && !whitespace.has(text[end] ?? '') && !specials.has(text[end] ?? '')) end++;
      tokens.push({ kind: 'id', text: text.slice(i, end) });
      i = end;
    }
  }
  tokens.push({ kind: 'end', text: '' });
  return tokens;
}

const describeToken = (t: Token) => (t.kind === 'end' ? 'the end' : `"${t.text}"`);

/** Parses one requirement (the text between top-level commas), or throws a SyntaxError or a RangeError. */
function parseRequirement(text: string): LabelRequirement {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos] ?? { kind: 'end' as const, text: '' as const };
  const next = () => tokens[pos++] ?? { kind: 'end' as const, text: '' as const };
  const invalid = (key: string, operator: LabelOperator, values: string[]) => {
    const problem = requirementProblem(key, operator, values);
    if (problem) throw new RangeError(problem);
    return requirement(key, operator, values);
  };

  let negated = false;
  let t = next();
  if (t.kind === 'op' && t.text === '!') {
    negated = true;
    t = next();
  }
  // Keywords are identifiers in the key position too (the API server reads "in" as a key there).
  if (t.kind !== 'id') throw new SyntaxError(`found ${describeToken(t)}, expected a key`);
  const key = t.text;
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) throw new RangeError(keyProblem);

  let result: LabelRequirement;
  if (peek().kind === 'end') {
    result = requirement(key, negated ? 'DoesNotExist' : 'Exists', []);
  } else {
    if (negated) throw new SyntaxError(`found ${describeToken(peek())} after "!${key}", expected the end`);
    const op = next();
    if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
      const open = next();
      if (open.kind !== 'op' || open.text !== '(')
        throw new SyntaxError(`found ${describeToken(open)}, expected "("`);
      const values = parseValueList();
      result = invalid(key, op.text === 'in' ? 'In' : 'NotIn', values);
    } else if (op.kind === 'op' && ['=', '==', '!=', '>', '<'].includes(op.text)) {
      const operator: LabelOperator =
        op.text === '!=' ? 'NotEquals' : op.text === '>' ? 'Gt' : op.text === '<' ? 'Lt' : 'Equals';
      // `k=` is the empty value.
      const value = peek().kind === 'end' ? { kind: 'id' as const, text: '' } : next();
      if (value.kind !== 'id') throw new SyntaxError(`found ${describeToken(value)}, expected a value`);
      result = invalid(key, operator, [value.text]);
    } else {
      throw new SyntaxError(`found ${describeToken(op)}, expected one of in, notin, =, ==, !=, >, <`);
    }
  }
  const rest = next();
  if (rest.kind !== 'end')
    throw new SyntaxError(`found ${describeToken(rest)}, expected the end of the requirement`);
  return result;

  /** `a, b,,c)` after the "(": empty entries are the empty value, as the API server reads them. */
  function parseValueList(): string[] {
    const values: string[] = [];
    let expectValue = true;
    for (;;) {
      const v = next();
      if (v.kind === 'op' && v.text === ')') {
        if (expectValue) values.push('');
        return values;
      }
      if (v.kind === 'op' && v.text === ',') {
        if (expectValue) values.push('');
        expectValue = true;
        continue;
      }
      if (v.kind === 'id' && expectValue) {
        values.push(v.text);
        expectValue = false;
        continue;
      }
      throw new SyntaxError(`found ${describeToken(v)}, expected a value, "," or ")"`);
    }
  }
}

/** Splits at commas outside parentheses: the requirements as written. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of selector) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * Parses the API server's string syntax. An empty (or blank) selector matches everything. Throws
 * LabelSelectorError naming the first requirement that is wrong.
 */
export function parseLabelSelector(text: string): LabelSelector {
  if (text.trim() === '') return { requirements: [] };
  const requirements: LabelRequirement[] = [];
  for (const part of splitRequirements(text)) {
    try {
      requirements.push(parseRequirement(part));
    } catch (error) {
      const kind = error instanceof RangeError ? 'invalid' : 'syntax';
      throw new LabelSelectorError(text, part.trim(), (error as Error).message, kind);
    }
  }
  return { requirements: sortByKey(requirements) };
}

function sortByKey(requirements: LabelRequirement[]): LabelRequirement[] {
  return requirements
    .map((r, i) => ({ r, i }))
    .sort((a, b) => cmp(a.r.key, b.r.key) || a.i - b.i)
    .map(({ r }) => r);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether labels satisfy every requirement (the API server's Requirement.Matches). */
export function matchesLabels(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const has = (key: string) => labels !== undefined && Object.hasOwn(labels, key);
  for (const r of selector.requirements) {
    const value = has(r.key) ? labels?.[r.key] : undefined;
    let ok: boolean;
    switch (r.operator) {
      case 'Equals':
      case 'In':
        ok = value !== undefined && r.values.includes(value);
        break;
      case 'NotEquals':
      case 'NotIn':
        ok = value === undefined || !r.values.includes(value);
        break;
      case 'Exists':
        ok = value !== undefined;
        break;
      case 'DoesNotExist':
        ok = value === undefined;
        break;
      case 'Gt':
      case 'Lt': {
        if (value === undefined || !integerRe.test(value)) ok = false;
        else {
          const [have, want] = [BigInt(value), BigInt(r.values[0] ?? '0')];
          ok = r.operator === 'Gt' ? have > want : have < want;
        }
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

/** The string form, as `kubectl` and the API server print it (values sorted). */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector.requirements.map(formatRequirement).join(',');
}

function formatRequirement(r: LabelRequirement): string {
  switch (r.operator) {
    case 'Exists':
      return r.key;
    case 'DoesNotExist':
      return `!${r.key}`;
    case 'Equals':
      return `${r.key}=${r.values[0] ?? ''}`;
    case 'NotEquals':
      return `${r.key}!=${r.values[0] ?? ''}`;
    case 'Gt':
      return `${r.key}>${r.values[0] ?? ''}`;
    case 'Lt':
      return `${r.key}<${r.values[0] ?? ''}`;
    case 'In':
      return `${r.key} in (${r.values.join(',')})`;
    case 'NotIn':
      return `${r.key} notin (${r.values.join(',')})`;
  }
}

// --- The object form --------------------------------------------------------------------------------------

const expressionOperators: Record<string, LabelOperator> = {
  In: 'In',
  NotIn: 'NotIn',
  Exists: 'Exists',
  DoesNotExist: 'DoesNotExist',
};

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Compiles the metav1.LabelSelector form (metav1.LabelSelectorAsSelector). The input is checked at run time
 * too, since it usually comes from YAML: unknown fields, wrong types, operators other than
 * In/NotIn/Exists/DoesNotExist (case-sensitive, as the API server has them) are LabelSelectorErrors.
 * An empty object matches everything.
 */
export function labelSelectorFromObject(object: LabelSelectorObject): LabelSelector {
  const text = JSON.stringify(object) ?? 'undefined';
  const fail = (requirement: string, reason: string, kind: 'syntax' | 'invalid' = 'invalid'): never => {
    throw new LabelSelectorError(text, requirement, reason, kind);
  };
  const input: unknown = object;
  if (!isRecord(input)) return fail(text, 'a label selector must be an object', 'syntax');
  for (const field of Object.keys(input)) {
    if (field !== 'matchLabels' && field !== 'matchExpressions')
      fail(field, 'unknown field (expected matchLabels or matchExpressions)', 'syntax');
  }
  const requirements: LabelRequirement[] = [];
  const { matchLabels, matchExpressions } = input;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (!isRecord(matchLabels)) fail('matchLabels', 'matchLabels must be a map of strings', 'syntax');
    for (const [key, value] of Object.entries(matchLabels as Record<string, unknown>)) {
      const shown = `${key}=${String(value)}`;
      if (typeof value !== 'string') fail(shown, `the value of ${key} must be a string`, 'syntax');
      const problem = requirementProblem(key, 'Equals', [value as string]);
      if (problem) fail(shown, problem);
      requirements.push(requirement(key, 'Equals', [value as string]));
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions))
      fail('matchExpressions', 'matchExpressions must be a list', 'syntax');
    for (const [i, expression] of (matchExpressions as unknown[]).entries()) {
      const shown = `matchExpressions[${i}] ${JSON.stringify(expression)}`;
      if (!isRecord(expression)) return fail(shown, 'an expression must be an object', 'syntax');
      for (const field of Object.keys(expression)) {
        if (!['key', 'operator', 'values'].includes(field))
          fail(shown, `unknown field "${field}" (expected key, operator, values)`, 'syntax');
      }
      const { key, operator, values = [] } = expression;
      if (typeof key !== 'string') fail(shown, 'key must be a string', 'syntax');
      if (typeof operator !== 'string' || !Object.hasOwn(expressionOperators, operator))
        fail(
          shown,
          `"${String(operator)}" is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)`,
        );
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))
        fail(shown, 'values must be a list of strings', 'syntax');
      const op = expressionOperators[operator as string] as LabelOperator;
      const problem = requirementProblem(key as string, op, values as string[]);
      if (problem) fail(shown, problem);
      requirements.push(requirement(key as string, op, values as string[]));
    }
  }
  return { requirements: sortByKey(requirements) };
}

/**
 * The metav1.LabelSelector form of a selector, as Velero's `--selector` writes it (metav1.ParseToLabelSelector):
 * `k=v` in matchLabels, `k in (..)`, `k notin (..)`, `k`, `!k` as matchExpressions. `k!=v` becomes
 * `k notin (v)`, which matches the same objects. `>` and `<` have no object form: LabelSelectorError.
 * An empty selector (everything) is undefined, as Velero leaves the field out.
 */
export function labelSelectorToObject(selector: LabelSelector): LabelSelectorObject | undefined {
  if (selector.requirements.length === 0) return undefined;
  const matchLabels: Record<string, string> = {};
  const matchExpressions: NonNullable<LabelSelectorObject['matchExpressions']> = [];
  for (const r of selector.requirements) {
    const value = r.values[0] ?? '';
    switch (r.operator) {
      case 'Equals':
        // A second `k=` of another value cannot share the map: it is the expression it means.
        if (!Object.hasOwn(matchLabels, r.key)) matchLabels[r.key] = value;
        else if (matchLabels[r.key] !== value)
          matchExpressions.push({ key: r.key, operator: 'In', values: [value] });
        break;
      case 'NotEquals':
        matchExpressions.push({ key: r.key, operator: 'NotIn', values: [value] });
        break;
      case 'In':
      case 'NotIn':
        matchExpressions.push({ key: r.key, operator: r.operator, values: [...r.values] });
        break;
      case 'Exists':
      case 'DoesNotExist':
        matchExpressions.push({ key: r.key, operator: r.operator });
        break;
      case 'Gt':
      case 'Lt':
        throw new LabelSelectorError(
          formatLabelSelector(selector),
          formatRequirement(r),
          `the operator ${r.operator === 'Gt' ? '>' : '<'} has no metav1.LabelSelector form (Velero's ` +
            'labelSelector field): use =, !=, in, notin, or a key alone',
          'invalid',
        );
    }
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

/**
 * A selector of either form as text: the text as it is, an object (metav1.LabelSelector) in the API
 * server's text form, as `kubectl` and Velero print it (`app=shop,tier in (a,b)`). An object that is not a
 * valid selector is shown as its JSON, never thrown: this is for reading what others wrote.
 */
export function labelSelectorAsText(selector: string | LabelSelectorObject): string {
  if (typeof selector === 'string') return selector;
  try {
    return formatLabelSelector(labelSelectorFromObject(selector));
  } catch (error) {
    if (!(error instanceof LabelSelectorError)) throw error;
    return JSON.stringify(selector);
  }
}

// --- Compatibility helpers used by backup selection -------------------------------------------------------

/**
 * Checks a label selector's syntax the way the API server parses it: undefined if it is accepted, else a
 * problem naming the requirement that is wrong. With objectForm, also that it has a metav1.LabelSelector
 * form (what a backup stores for Velero: no `>` or `<`).
 */
export function labelSelectorProblem(
  selector: string,
  options: { objectForm?: boolean } = {},
): string | undefined {
  try {
    const parsed = parseLabelSelector(selector);
    if (options.objectForm) labelSelectorToObject(parsed);
    return undefined;
  } catch (error) {
    if (!(error instanceof LabelSelectorError)) throw error;
    const base = `"${error.requirement}" is not a label requirement`;
    return error.kind === 'syntax' ? base : `${base}: ${error.reason}`;
  }
}

/** Compiles a glob (`*`, `?`, `[...]`) into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) throw new SyntaxError('unclosed [');
      source += `[${glob.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
