// Validation and defaults from the schemas: the same JSON Schema the API server checks a CRD against,
// compiled once per schema by TypeBox, with every violation turned into a problem that names the field and
// the value ("template.ttl "3 days": not a duration ..."), the shape the engines report problems in.
import { type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';

/** What is wrong with a spec: the field's path (`template.ttl`, `includedNamespaces[2]`), its value, why. */
export interface SpecProblem {
  field: string;
  value: string;
  message: string;
}

/** A problem as one line, as the engines' errors and a resource's status.validationErrors write it. */
export function problemText(problem: SpecProblem): string {
  return `${problem.field} "${problem.value}": ${problem.message}`;
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerOf(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/** Whether a value is valid against a schema (the compiled check, without building problems). */
export function conforms<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return checkerOf(schema).Check(value);
}

export interface SchemaProblemsOptions {
  /** Put in front of every field path: "spec" gives "spec.ttl". */
  prefix?: string;
}

/**
 * Every way a value breaks a schema, one problem per field (the first reason found for it): in each
 * object, unknown fields first, then missing ones, then the rest in the schema's order. An empty list
 * means the value is valid.
 */
export function schemaProblems(
  schema: TSchema,
  value: unknown,
  options: SchemaProblemsOptions = {},
): SpecProblem[] {
  const check = checkerOf(schema);
  if (check.Check(value)) return [];
  const problems = new Map<string, SpecProblem>();
  for (const error of check.Errors(value)) {
    const field = fieldPath(error.path, options.prefix);
    if (problems.has(field)) continue;
    problems.set(field, { field: field || '.', value: valueText(error.value), message: messageOf(error) });
  }
  return [...problems.values()];
}

/**
 * The value with the schema's defaults filled in wherever a field with a default is unset (a copy: the
 * value given is left alone). What the API server does to a custom resource on create, done in code.
 */
export function withDefaults<T extends TSchema>(schema: T, value: Static<T>): Static<T> {
  return Value.Default(schema, Value.Clone(value));
}

/** "/template/includedNamespaces/2" → "template.includedNamespaces[2]"; odd keys as labels["a.b/c"]. */
function fieldPath(pointer: string, prefix: string | undefined): string {
  let path = prefix ?? '';
  if (pointer === '') return path;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(key)) path += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) path += path ? `.${key}` : key;
    else path += `[${JSON.stringify(key)}]`;
  }
  return path;
}

function valueText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  // JSON.stringify gives undefined for a function or a symbol, whatever its declared type says.
  return JSON.stringify(value) ?? typeof value;
}

const typeNames: Partial<Record<ValueErrorType, string>> = {
  [ValueErrorType.String]: 'must be a string',
  [ValueErrorType.Boolean]: 'must be true or false',
  [ValueErrorType.Integer]: 'must be a whole number',
  [ValueErrorType.Number]: 'must be a number',
  [ValueErrorType.Array]: 'must be a list',
  [ValueErrorType.Object]: 'must be an object',
};

/** A literal's value, or undefined when the schema is not a `const`. */
function constOf(schema: unknown): unknown {
  return typeof schema === 'object' && schema !== null && 'const' in schema ? schema.const : undefined;
}

/** The keywords of a schema that messages quote. */
interface Keywords {
  errorMessage?: string;
  anyOf?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
}

function messageOf(error: ValueError): string {
  const schema = error.schema as unknown as Keywords;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a field of this kind';
    case ValueErrorType.Literal:
      return `must be ${String(constOf(schema))}`;
    case ValueErrorType.Union: {
      const values = (schema.anyOf ?? []).map(constOf);
      if (values.length > 0 && values.every((v) => typeof v === 'string'))
        return `must be one of ${values.join(', ')}`;
      return 'is not any of the allowed forms';
    }
    case ValueErrorType.StringPattern:
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown:
      return schema.errorMessage ?? `must match ${String(schema.pattern ?? schema.format)}`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(schema.maxLength)} characters`;
    case ValueErrorType.StringMinLength:
      return schema.minLength === 1
        ? 'must not be empty'
        : `must be at least ${String(schema.minLength)} characters`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be ≥ ${String(schema.minimum)}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be ≤ ${String(schema.maximum)}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${String(schema.minItems)} item${schema.minItems === 1 ? '' : 's'}`;
    default:
      return typeNames[error.type] ?? error.message.toLowerCase();
  }
}
