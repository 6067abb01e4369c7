// Transformation rules: Velero's resource-modifier format (version v1, resourceModifierRules with conditions,
// JSON patches and JSON merge patches), so that a Velero rules file works unchanged. Ours in addition: a
// `name` per rule and a `kind` condition. Strategic merge patches are not supported. docs/restore-transforms.md
// describes the format; the comments here say where and why Cairn follows or leaves Velero.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { parseDocument } from 'yaml';
import { type KubeObject } from '../kube/index.ts';
import {
  LabelSelectorError,
  labelSelectorFromObject,
  matchesLabels,
  parseLabelSelector,
  type LabelSelector,
} from '../api/index.ts';

/** A glob as written, and what it compiles to. */
export interface CompiledGlob {
  readonly pattern: string;
  readonly regExp: RegExp;
}

export interface RuleConditions {
  /** groupResource (`deployments.apps`, `*.apps`, `*` = every core resource, `**` = everything). */
  readonly groupResource?: CompiledGlob;
  /** `Deployment` (any group) or `Deployment.apps`. */
  readonly kind?: { readonly kind: string; readonly group?: string };
  readonly resourceNameRegex?: RegExp;
  /** Globs; empty = every namespace. Cluster-scoped objects are not filtered by namespace. */
  readonly namespaces: readonly CompiledGlob[];
  readonly labelSelector?: LabelSelector;
  /** JSON Patch `test` operations that must all pass (Velero's `matches`). */
  readonly matches: readonly Operation[];
}

/** A validated rule, ready to apply. */
export interface TransformRule {
  readonly name: string;
  readonly conditions: RuleConditions;
  /** RFC 6902 operations, values already decoded. */
  readonly patches: readonly Operation[];
  /** RFC 7386 merge patches, each an object. */
  readonly mergePatches: readonly Record<string, unknown>[];
}

/** A rules file (or ConfigMap) that cannot be used. Nothing of it is applied. */
export class TransformRulesError extends Error {
  override readonly name = 'TransformRulesError';
  /** Where the rules came from: a file name, a field, `ConfigMap ns/name`. */
  readonly source: string;
  /** The rule's name (or `rule N`); undefined for problems of the whole file. */
  readonly rule: string | undefined;
  /** The field at fault, e.g. resourceModifierRules[0].conditions.resourceNameRegex. */
  readonly field: string;
  /** The value at fault, as text. */
  readonly value: string;
  /** What is wrong. */
  readonly reason: string;
  constructor(
    source: string,
    rule: string | undefined,
    field: string,
    value: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    const shown = value.length > 80 ? `${value.slice(0, 79)}…` : value;
    super(
      `${source}: ${rule !== undefined ? `rule "${rule}": ` : ''}${field}${value !== '' ? ` ${JSON.stringify(shown)}` : ''}: ${reason}`,
      options,
    );
    this.source = source;
    this.rule = rule;
    this.field = field;
    this.value = value;
    this.reason = reason;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));

const SUPPORTED_VERSION = 'v1';
const operations = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

// --- Parsing ------------------------------------------------------------------------------------------------

/**
 * Parses and validates a rules file (YAML or JSON). Every problem is a TransformRulesError naming the
 * source, the rule, the field and the value; unknown fields are errors (Velero decodes strictly too).
 */
export function parseTransformRules(yamlText: string, source: string): TransformRule[] {
  const fail = (field: string, value: unknown, reason: string, rule?: string, cause?: unknown): never => {
    throw new TransformRulesError(source, rule, field, value === undefined ? '' : text(value), reason, {
      cause,
    });
  };
  const doc = parseDocument(yamlText, { uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const at = yamlError.linePos?.[0];
    fail(
      'yaml',
      at ? `line ${at.line}, column ${at.col}` : '',
      yamlReason(yamlError.message),
      undefined,
      yamlError,
    );
  }
  const top: unknown = doc.toJS({ maxAliasCount: 100 });
  if (!isObject(top))
    return fail('document', top ?? '', 'a rules file is a mapping with version and resourceModifierRules');
  onlyKeys(top, ['version', 'resourceModifierRules'], '', (field, key) => fail(field, key, 'unknown field'));
  if (typeof top.version !== 'string' || top.version.toLowerCase() !== SUPPORTED_VERSION)
    fail('version', top.version ?? '', `unsupported version (supported: ${SUPPORTED_VERSION})`);
  const list = top.resourceModifierRules;
  if (!Array.isArray(list) || list.length === 0)
    fail('resourceModifierRules', list ?? '', 'a non-empty list of rules is required');

  const rules: TransformRule[] = [];
  const names = new Set<string>();
  for (const [i, raw] of (list as unknown[]).entries()) {
    const rule = parseRule(raw, i, (field, value, reason, ruleName, cause) =>
      fail(`resourceModifierRules[${i}]${field ? `.${field}` : ''}`, value, reason, ruleName, cause),
    );
    if (names.has(rule.name))
      fail(`resourceModifierRules[${i}].name`, rule.name, 'rule names must be unique', rule.name);
    names.add(rule.name);
    rules.push(rule);
  }
  return rules;
}

type Fail = (field: string, value: unknown, reason: string, rule?: string, cause?: unknown) => never;

function onlyKeys(
  object: Json,
  allowed: readonly string[],
  prefix: string,
  fail: (field: string, key: string) => void,
) {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) fail(prefix ? `${prefix}.${key}` : key, key);
  }
}

function parseRule(raw: unknown, index: number, failAt: Fail): TransformRule {
  const fallbackName = `rule ${index + 1}`;
  if (!isObject(raw))
    return failAt('', raw ?? '', 'a rule is a mapping with conditions and patches', fallbackName);
  const name = raw.name === undefined ? fallbackName : raw.name;
  if (typeof name !== 'string' || name.trim() === '')
    return failAt('name', raw.name, 'a rule name is a non-empty string', fallbackName);
  const fail: Fail = (field, value, reason, _rule, cause) => failAt(field, value, reason, name, cause);

  if (raw.strategicPatches !== undefined)
    fail(
      'strategicPatches',
      '',
      'strategic merge patches are not supported (they need the Go type of every kind); use patches or mergePatches',
    );
  onlyKeys(raw, ['name', 'conditions', 'patches', 'mergePatches'], '', (field, key) =>
    fail(field, key, 'unknown field (expected name, conditions, patches, mergePatches)'),
  );
  const conditions = parseConditions(raw.conditions, fail);

  const patchList = raw.patches ?? [];
  const mergeList = raw.mergePatches ?? [];
  if (!Array.isArray(patchList)) fail('patches', patchList, 'patches is a list of JSON Patch operations');
  if (!Array.isArray(mergeList)) fail('mergePatches', mergeList, 'mergePatches is a list of {patchData}');
  const patchesGiven = (patchList as unknown[]).length > 0;
  const mergeGiven = (mergeList as unknown[]).length > 0;
  if (patchesGiven && mergeGiven)
    fail('patches', '', 'only one of patches and mergePatches can be given in a rule');
  if (!patchesGiven && !mergeGiven) fail('patches', '', 'a rule needs patches or mergePatches');

  const patches = (patchList as unknown[]).map((p, i) => parsePatch(p, `patches[${i}]`, fail));
  const mergePatches = (mergeList as unknown[]).map((p, i) => parseMergePatch(p, `mergePatches[${i}]`, fail));
  return { name, conditions, patches, mergePatches };
}

function parseConditions(raw: unknown, fail: Fail): RuleConditions {
  if (!isObject(raw))
    return fail('conditions', raw ?? '', 'conditions is a mapping (groupResource is required)');
  onlyKeys(
    raw,
    ['groupResource', 'kind', 'resourceNameRegex', 'namespaces', 'labelSelector', 'matches'],
    'conditions',
    (field, key) =>
      fail(
        field,
        key,
        'unknown field (expected groupResource, kind, resourceNameRegex, namespaces, labelSelector, matches)',
      ),
  );
  const conditions: {
    groupResource?: CompiledGlob;
    kind?: { kind: string; group?: string };
    resourceNameRegex?: RegExp;
    namespaces: CompiledGlob[];
    labelSelector?: LabelSelector;
    matches: Operation[];
  } = { namespaces: [], matches: [] };

  const { groupResource, kind } = raw;
  if (groupResource !== undefined && kind !== undefined)
    fail('conditions.kind', kind, 'give groupResource or kind, not both');
  if (groupResource === undefined && kind === undefined)
    fail('conditions.groupResource', '', 'groupResource (or kind) is required');
  if (groupResource !== undefined) {
    if (typeof groupResource !== 'string' || groupResource === '')
      fail(
        'conditions.groupResource',
        groupResource,
        'a resource name or glob (e.g. deployments.apps, *.apps)',
      );
    conditions.groupResource = compileGlobOrFail(groupResource, '.', 'conditions.groupResource', fail);
  }
  if (kind !== undefined) {
    const match =
      typeof kind === 'string' ? /^([A-Za-z][A-Za-z0-9]*)(?:\.([a-z0-9][a-z0-9.-]*))?$/.exec(kind) : null;
    if (!match)
      return fail('conditions.kind', kind, 'a kind, optionally with its group (Deployment, Deployment.apps)');
    conditions.kind =
      match[2] !== undefined ? { kind: match[1] ?? '', group: match[2] } : { kind: match[1] ?? '' };
  }

  if (raw.resourceNameRegex !== undefined && raw.resourceNameRegex !== '') {
    if (typeof raw.resourceNameRegex !== 'string')
      fail('conditions.resourceNameRegex', raw.resourceNameRegex, 'a regular expression (a string)');
    conditions.resourceNameRegex = compileGoRegExp(raw.resourceNameRegex, fail);
  }

  if (raw.namespaces !== undefined && raw.namespaces !== null) {
    if (!Array.isArray(raw.namespaces))
      fail('conditions.namespaces', raw.namespaces, 'a list of namespace names or globs');
    for (const [i, ns] of (raw.namespaces as unknown[]).entries()) {
      const field = `conditions.namespaces[${i}]`;
      if (typeof ns !== 'string' || ns === '') fail(field, ns ?? '', 'a namespace name or glob');
      conditions.namespaces.push(compileGlobOrFail(ns, undefined, field, fail));
    }
  }

  if (raw.labelSelector !== undefined && raw.labelSelector !== null) {
    const selector = raw.labelSelector;
    try {
      // The metav1.LabelSelector form (Velero's); the string form (`app=web,tier!=db`) is ours in addition.
      conditions.labelSelector =
        typeof selector === 'string' ? parseLabelSelector(selector) : labelSelectorFromObject(selector);
    } catch (error) {
      if (!(error instanceof LabelSelectorError)) throw error;
      fail(
        'conditions.labelSelector',
        selector,
        `"${error.requirement}" is not a label requirement: ${error.reason}`,
        undefined,
        error,
      );
    }
  }

  if (raw.matches !== undefined && raw.matches !== null) {
    if (!Array.isArray(raw.matches)) fail('conditions.matches', raw.matches, 'a list of {path, value}');
    for (const [i, m] of (raw.matches as unknown[]).entries()) {
      const field = `conditions.matches[${i}]`;
      if (!isObject(m)) return fail(field, m ?? '', 'a mapping with path and value');
      onlyKeys(m, ['path', 'value'], field, (f, key) => fail(f, key, 'unknown field (expected path, value)'));
      checkPointer(m.path, `${field}.path`, fail);
      const value = decodeValue(m.value, `${field}.value`, fail);
      conditions.matches.push({ op: 'test', path: m.path as string, value });
    }
  }
  return conditions;
}

function checkPointer(path: unknown, field: string, fail: Fail): void {
  if (typeof path !== 'string' || path === '')
    fail(field, path ?? '', 'a JSON pointer is required, e.g. /spec/replicas');
  if (!path.startsWith('/')) fail(field, path, 'a JSON pointer starts with "/"');
  if (/~(?![01])/.test(path)) fail(field, path, 'in a JSON pointer "~" is written ~0 and "/" in a key ~1');
}

function parsePatch(raw: unknown, field: string, fail: Fail): Operation {
  if (!isObject(raw)) return fail(field, raw ?? '', 'a mapping with operation, path, and value or from');
  onlyKeys(raw, ['operation', 'path', 'value', 'from'], field, (f, key) =>
    fail(f, key, 'unknown field (expected operation, path, value, from)'),
  );
  const op = typeof raw.operation === 'string' ? raw.operation.toLowerCase() : undefined;
  if (op === undefined || !operations.has(op))
    fail(
      `${field}.operation`,
      raw.operation ?? '',
      'one of add, remove, replace, move, copy, test is required',
    );
  checkPointer(raw.path, `${field}.path`, fail);
  const path = raw.path as string;
  let operation: Operation;
  switch (op) {
    case 'move':
    case 'copy':
      checkPointer(raw.from, `${field}.from`, fail);
      operation = { op, path, from: raw.from as string };
      break;
    case 'remove':
      operation = { op, path };
      break;
    default:
      operation = { op: op as 'add', path, value: decodeValue(raw.value, `${field}.value`, fail) };
  }
  const problem = jsonpatch.validate([operation]);
  if (problem) fail(field, path, problem.message.split('\n')[0] ?? problem.name);
  return operation;
}

const jsonNumber = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
// What Go's strconv.ParseFloat also accepts (so Velero writes it unquoted) but JSON does not.
const goFloat =
  /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$|^[+-]?0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?\d+$/i;

/**
 * A patch value as Velero reads it. Velero's values are strings written into a JSON patch as they are when
 * they look like JSON (null, true/false, numbers, `{...}`, `[...]`) and as JSON strings otherwise; a string
 * in double quotes is a string without them (`'"true"'` is the string true). So `value: "1"` sets the number
 * 1. Ours in addition: a value that YAML already typed (a number, a boolean, a mapping, a list) is used as it
 * is. Velero fails at restore time on a value that looks like JSON but is not (`{oops`, `0123`, `+1`); that
 * is an error here, when the rules are read. A missing or null value is the empty string, as in Velero.
 */
function decodeValue(value: unknown, field: string, fail: Fail): unknown {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') return value;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
    return stringContent(value.slice(1, -1));
  if (value === 'null') return null;
  if (value.toLowerCase() === 'true') return true;
  if (value.toLowerCase() === 'false') return false;
  if (value.startsWith('{') || value.startsWith('[')) {
    try {
      return JSON.parse(value) as unknown;
    } catch (error) {
      return fail(
        field,
        value,
        `a value starting with "${value[0]}" is read as JSON and this is not valid JSON (${(error as Error).message}); to set it as a string, put it in double quotes`,
      );
    }
  }
  if (jsonNumber.test(value)) return Number(value);
  if (goFloat.test(value))
    return fail(
      field,
      value,
      'Velero reads this as a number but it is not a JSON number; to set it as a string, put it in double quotes',
    );
  return stringContent(value);
}

/**
 * Velero puts a string between double quotes in the JSON patch text as it is, so JSON escapes in it count
 * (`a\nb` is a line break, `\"` a quote). Where that text would not be valid JSON (a lone `"` or `\`),
 * Velero fails; the string is then taken literally here.
 */
function stringContent(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}

function parseMergePatch(raw: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (!isObject(raw)) return fail(field, raw ?? '', 'a mapping with patchData');
  onlyKeys(raw, ['patchData'], field, (f, key) => fail(f, key, 'unknown field (expected patchData)'));
  let data: unknown = raw.patchData;
  if (typeof data === 'string') {
    // JSON or YAML, as Velero accepts both.
    const doc = parseDocument(data, { uniqueKeys: true });
    const error = doc.errors[0];
    if (error)
      return fail(`${field}.patchData`, data, `not valid JSON or YAML: ${yamlReason(error.message)}`);
    data = doc.toJS({ maxAliasCount: 100 });
  }
  if (!isObject(data))
    return fail(`${field}.patchData`, data ?? '', 'a merge patch is an object (JSON or YAML)');
  return data;
}

/** The first line of a yaml error, without its position (given separately). */
const yamlReason = (message: string) =>
  (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');

// --- Globs and regular expressions --------------------------------------------------------------------------

function compileGlobOrFail(
  pattern: string,
  separator: string | undefined,
  field: string,
  fail: Fail,
): CompiledGlob {
  try {
    return { pattern, regExp: compileGlob(pattern, separator) };
  } catch (error) {
    return fail(field, pattern, `not a valid glob: ${(error as Error).message}`);
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * A glob in the syntax of gobwas/glob, which Velero uses: `*` any run of characters other than the
 * separator, `**` any run at all, `?` one non-separator character, `[abc]`, `[a-z]`, `[!abc]`, `{a,b}`, and
 * `\` to escape. Anchored at both ends.
 */
export function compileGlob(pattern: string, separator?: string): RegExp {
  const one = separator ? `[^${escapeRegExp(separator)}]` : '[^]';
  let i = 0;
  const parse = (inBraces: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i] ?? '';
      if (inBraces && (c === ',' || c === '}')) return out;
      i++;
      if (c === '*') {
        if (pattern[i] === '*') {
          i++;
          out += '[^]*';
        } else out += `${one}*`;
      } else if (c === '?') out += one;
      else if (c === '\\') {
        if (i >= pattern.length) throw new SyntaxError('"\\" at the end escapes nothing');
        out += escapeRegExp(pattern[i++] ?? '');
      } else if (c === '[') {
        const end = pattern.indexOf(']', i);
        if (end < 0) throw new SyntaxError('unclosed "["');
        let body = pattern.slice(i, end);
        i = end + 1;
        const negated = body.startsWith('!');
        if (negated) body = body.slice(1);
        if (body === '') throw new SyntaxError('empty character class "[]"');
        let cls = '';
        for (let j = 0; j < body.length; j++) {
          const from = body[j] ?? '';
          if (body[j + 1] === '-' && j + 2 < body.length) {
            const to = body[j + 2] ?? '';
            if (to < from) throw new SyntaxError(`bad range "${from}-${to}"`);
            cls += `${escapeRegExp(from)}-${escapeRegExp(to)}`;
            j += 2;
          } else cls += escapeRegExp(from);
        }
        out += negated ? `[^${cls}]` : `[${cls}]`;
      } else if (c === '{') {
        const alternatives: string[] = [];
        for (;;) {
          alternatives.push(parse(true));
          const stop = pattern[i];
          if (stop === undefined) throw new SyntaxError('unclosed "{"');
          i++;
          if (stop === '}') break;
        }
        out += `(?:${alternatives.join('|')})`;
      } else out += escapeRegExp(c);
    }
    return out;
  };
  const source = parse(false);
  return new RegExp(`^${source}$`);
}

/**
 * Go's regexp (RE2) as a JavaScript RegExp, unanchored like Go's MatchString. Leading flags `(?i)`, `(?s)`,
 * `(?m)` become RegExp flags and `(?P<name>` becomes `(?<name>`; other RE2-only syntax is an error here.
 */
function compileGoRegExp(source: string, fail: Fail): RegExp {
  let flags = '';
  let body = source;
  const leading = /^\(\?([imsU]+)\)/.exec(body);
  if (leading) {
    if (leading[1]?.includes('U'))
      fail('conditions.resourceNameRegex', source, 'the ungreedy flag (?U) is not supported');
    flags = [...new Set(leading[1] ?? '')].join('');
    body = body.slice(leading[0].length);
  }
  try {
    return new RegExp(body.replace(/\(\?P</g, '(?<'), flags);
  } catch (error) {
    return fail(
      'conditions.resourceNameRegex',
      source,
      `not a valid regular expression: ${(error as Error).message}`,
    );
  }
}

// --- ConfigMaps -----------------------------------------------------------------------------------------------

/** The rules held by a ConfigMap, as Velero stores them: the YAML in the ConfigMap's only data key. */
export function rulesFromConfigMap(cm: KubeObject): TransformRule[] {
  const source = `ConfigMap ${cm.metadata.namespace ? `${cm.metadata.namespace}/` : ''}${cm.metadata.name}`;
  const data = isObject(cm.data) ? cm.data : {};
  const keys = Object.keys(data);
  if (keys.length !== 1)
    throw new TransformRulesError(
      source,
      undefined,
      'data',
      keys.join(', '),
      `the rules must be the ConfigMap's only data key (found ${keys.length === 0 ? 'none' : `${keys.length}`})`,
    );
  const key = keys[0] ?? '';
  const value = data[key];
  if (typeof value !== 'string')
    throw new TransformRulesError(source, undefined, `data.${key}`, text(value), 'must be a string');
  return parseTransformRules(value, `${source} (data.${key})`);
}

// --- Applying -------------------------------------------------------------------------------------------------

export interface RuleTarget {
  /** The object's resource, e.g. deployments.apps (conditions.groupResource). */
  groupResource: string;
  /** Its kind and API group ("" for the core group) (conditions.kind). */
  kind: string;
  group: string;
  /** The object as it will be created: after prepareForRestore. */
  object: KubeObject;
  /**
   * The namespace the object had in the backup. conditions.namespaces match it when given: Velero matches
   * the backed-up namespace, not the mapped one ("the Namespace here is the original namespace of the
   * backed up resource"). When absent, object.metadata.namespace (the target namespace) is matched.
   */
  sourceNamespace?: string | undefined;
}

export type RulesResult =
  { object: KubeObject; applied: string[] } | { error: { rule: string; message: string } };

/**
 * Applies the rules in order. Conditions are evaluated on the object as given, before any rule changed it
 * (as Velero does), so a rule's patches never decide whether a later rule applies; patches accumulate. A JSON
 * Patch whose `test` operation fails leaves its rule unapplied, as in Velero ("conditional patches"); any
 * other failure (a path that does not exist, an index out of range, a result that is no longer a Kubernetes
 * object) is an error naming the rule, and nothing is returned to apply. The input is never changed.
 */
export function applyTransformRules(rules: readonly TransformRule[], target: RuleTarget): RulesResult {
  const origin = target.object;
  let current: Json = structuredClone(origin);
  const applied: string[] = [];
  for (const rule of rules) {
    if (!ruleMatches(rule, target)) continue;
    if (rule.patches.length > 0) {
      // One operation at a time, to name the one that fails (fast-json-patch reports index 0 for many errors);
      // on a clone, so that a rule applies whole or not at all.
      let draft: unknown = structuredClone(current);
      let failed: { index: number; error: unknown } | undefined;
      for (const [index, operation] of rule.patches.entries()) {
        try {
          // The operation is cloned too: fast-json-patch inserts values by reference.
          draft = jsonpatch.applyOperation(
            draft,
            structuredClone(operation),
            true,
            true,
            true,
            index,
          ).newDocument;
        } catch (error) {
          failed = { index, error };
          break;
        }
      }
      if (failed) {
        if (failed.error instanceof jsonpatch.JsonPatchError && failed.error.name === 'TEST_OPERATION_FAILED')
          continue;
        return { error: { rule: rule.name, message: patchErrorMessage(failed.error, rule, failed.index) } };
      }
      current = draft as Json;
    } else {
      for (const patch of rule.mergePatches) current = mergePatch(current, patch) as Json;
    }
    const problem = notAnObject(current);
    if (problem) return { error: { rule: rule.name, message: problem } };
    applied.push(rule.name);
  }
  return { object: current as KubeObject, applied };
}

function ruleMatches(rule: TransformRule, target: RuleTarget): boolean {
  const c = rule.conditions;
  const meta = target.object.metadata;
  if (c.groupResource && !c.groupResource.regExp.test(target.groupResource)) return false;
  if (c.kind) {
    if (c.kind.kind.toLowerCase() !== target.kind.toLowerCase()) return false;
    if (c.kind.group !== undefined && c.kind.group !== target.group) return false;
  }
  const namespace = target.sourceNamespace ?? meta.namespace;
  if (
    namespace &&
    c.namespaces.length > 0 &&
    !c.namespaces.some((g) => g.pattern === '*' || g.regExp.test(namespace))
  )
    return false;
  if (c.resourceNameRegex && !c.resourceNameRegex.test(meta.name ?? '')) return false;
  if (c.labelSelector && !matchesLabels(c.labelSelector, meta.labels)) return false;
  if (c.matches.length > 0) {
    // A failed test or a path that does not exist both mean "does not match" (Velero's matchConditions).
    if (jsonpatch.validate(structuredClone(c.matches) as Operation[], target.object) !== undefined)
      return false;
  }
  return true;
}

const patchErrorReasons: Record<string, string> = {
  OPERATION_PATH_UNRESOLVABLE: 'the path does not exist',
  OPERATION_FROM_UNRESOLVABLE: 'the from path does not exist',
  OPERATION_PATH_CANNOT_ADD: 'the parent of the path does not exist',
  OPERATION_VALUE_OUT_OF_BOUNDS: 'the array index is past the end of the array',
  OPERATION_PATH_ILLEGAL_ARRAY_INDEX: 'the path goes through an array with something that is not an index',
};

function patchErrorMessage(error: unknown, rule: TransformRule, index: number): string {
  const op = rule.patches[index];
  const which = op ? `patches[${index}] (${op.op} ${op.path})` : `patches[${index}]`;
  const reason =
    error instanceof jsonpatch.JsonPatchError
      ? (patchErrorReasons[error.name] ?? error.message.split('\n')[0] ?? error.name)
      : (error as Error).message;
  return `${which}: ${reason}`;
}

function notAnObject(value: unknown): string | undefined {
  if (!isObject(value)) return 'the patched result is not an object';
  const meta = value.metadata;
  if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string' || !isObject(meta))
    return 'the patched result lacks apiVersion, kind or metadata';
  if (typeof meta.name !== 'string' || meta.name === '') return 'the patched result has no metadata.name';
  return undefined;
}

/** RFC 7386: objects merge key by key, null removes, anything else (arrays included) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Json = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else {
      // defineProperty: a "__proto__" key is data, never the prototype.
      Object.defineProperty(result, key, {
        value: mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return result;
}
