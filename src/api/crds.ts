// The CustomResourceDefinitions of cairn.dev/v1, built from the kinds' schemas. A CRD's schema must be
// structural (every node typed, no $ref, no additionalProperties: false, maps as additionalProperties), so
// TypeBox's JSON Schema is converted node by node: unions of string literals become enums, records become
// additionalProperties maps, free-form values x-kubernetes-preserve-unknown-fields; descriptions, defaults,
// enums, formats and bounds are kept. A pattern with a message of ours becomes a CEL rule carrying that
// message, so that the API server's refusal reads "not a duration (examples: 720h, ...)" rather than the
// regular expression. A keyword the conversion does not know is an error, never silently dropped. `npm run gen-crds` writes these to deploy/crds; `cairn install` renders them.
import type { TSchema } from '@sinclair/typebox';
import { API_GROUP, API_VERSION } from './backup.ts';
import { CAIRN_KINDS, type CairnKind, type PrinterColumn } from './kinds.ts';

/** The part of apiextensions.k8s.io/v1 JSONSchemaProps the conversion writes. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  enum?: unknown[];
  default?: unknown;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-validations'?: { rule: string; message: string; messageExpression?: string }[];
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}

/** The category of every kind: `kubectl get cairn` lists them all. */
export const CAIRN_CATEGORY = 'cairn';

/** Keywords copied as they are. */
const kept = [
  'description',
  'default',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
] as const;
/** Keywords the conversion reads (or drops: $id, $schema, errorMessage is validate.ts's). */
const handled = new Set<string>([
  ...kept,
  'type',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'patternProperties',
  'anyOf',
  'const',
  'enum',
  '$id',
  '$schema',
  'errorMessage',
]);

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;

/** The structural OpenAPI v3 schema of a TypeBox schema, for a CRD. Throws on what a CRD cannot say. */
export function structuralSchema(schema: TSchema, path = ''): JSONSchemaProps {
  const node = schema as Node;
  const at = path || '.';
  for (const key of Object.keys(node)) {
    if (!handled.has(key)) throw new Error(`a CRD schema cannot say "${key}" (at ${at})`);
  }
  const out: JSONSchemaProps = {};
  const keptOut = out as Record<string, unknown>;
  for (const key of kept) if (node[key] !== undefined) keptOut[key] = structuredClone(node[key]);
  // Inside a list the API server counts a rule's cost once per possible item: there the pattern stays.
  const inList = path.includes('[]') || path.includes('[*]');
  if (typeof node.pattern === 'string' && typeof node.errorMessage === 'string' && !inList) {
    // A raw CEL string: the pattern's backslashes stay as they are. RE2 (CEL's) reads these patterns as
    // JSON Schema's ECMA dialect does. A bounded length keeps the rule within the API server's cost budget.
    if (node.pattern.includes("'")) throw new Error(`a pattern with a quote cannot be a CEL rule (at ${at})`);
    if (typeof node.maxLength !== 'number')
      throw new Error(`a pattern with a message needs a maxLength (at ${at})`);
    delete out.pattern;
    // The API server's message names the field and the type it got ("string"), not the value: the
    // messageExpression puts the value in front of the message, as Cairn's own problems write it.
    const literal = `'${node.errorMessage.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
    out['x-kubernetes-validations'] = [
      {
        rule: `self.matches(r'${node.pattern}')`,
        message: node.errorMessage,
        messageExpression: `'"' + self + '": ' + ${literal}`,
      },
    ];
  }

  if (Array.isArray(node.anyOf)) {
    const members = node.anyOf as unknown[];
    const consts = members.map((m) => (isNode(m) ? m.const : undefined));
    if (consts.length > 0 && consts.every((c) => typeof c === 'string')) {
      return { type: 'string', ...out, enum: consts };
    }
    const types = members.map((m) => (isNode(m) ? m.type : undefined)).sort();
    if (types.length === 2 && types[0] === 'integer' && types[1] === 'string')
      return { ...out, 'x-kubernetes-int-or-string': true };
    throw new Error(`a CRD schema cannot say this union (at ${at}): only string enums and int-or-string`);
  }
  if (node.const !== undefined) {
    const type = typeof node.const;
    if (type !== 'string' && type !== 'number' && type !== 'boolean')
      throw new Error(`a CRD schema cannot say this constant (at ${at})`);
    return { type: type === 'number' ? 'number' : type, ...out, enum: [node.const] };
  }
  if (Array.isArray(node.enum)) out.enum = structuredClone(node.enum) as unknown[];

  switch (node.type) {
    case undefined:
      // Unknown or Any: whatever value is given is kept as it is.
      return { ...out, 'x-kubernetes-preserve-unknown-fields': true };
    case 'string':
    case 'integer':
    case 'number':
    case 'boolean':
      return { type: node.type, ...out };
    case 'array':
      if (!isNode(node.items)) throw new Error(`a CRD schema needs the items of a list (at ${at})`);
      return { type: 'array', ...out, items: structuralSchema(node.items as TSchema, `${path}[]`) };
    case 'object':
      return { type: 'object', ...out, ...objectParts(node, path) };
    default:
      throw new Error(`a CRD schema cannot say type ${JSON.stringify(node.type)} (at ${at})`);
  }
}

function objectParts(node: Node, path: string): JSONSchemaProps {
  const out: JSONSchemaProps = {};
  if (isNode(node.properties)) {
    out.properties = {};
    for (const [name, property] of Object.entries(node.properties))
      out.properties[name] = structuralSchema(property as TSchema, `${path}.${name}`);
    if (Array.isArray(node.required) && node.required.length > 0)
      out.required = [...(node.required as string[])];
  }
  let values: unknown;
  if (isNode(node.patternProperties)) {
    const patterns = Object.values(node.patternProperties);
    if (patterns.length !== 1) throw new Error(`a CRD schema has one kind of map value (at ${path || '.'})`);
    values = patterns[0];
  } else if (isNode(node.additionalProperties)) {
    values = node.additionalProperties;
  }
  if (values !== undefined) {
    if (out.properties) throw new Error(`a CRD schema cannot mix fields and a map (at ${path || '.'})`);
    const valueSchema = structuralSchema(values as TSchema, `${path}[*]`);
    // A map of anything: kept whole, rather than a map whose values each keep unknown fields.
    if (valueSchema.type === undefined && valueSchema['x-kubernetes-preserve-unknown-fields'])
      out['x-kubernetes-preserve-unknown-fields'] = true;
    else out.additionalProperties = valueSchema;
  } else if (!out.properties && node.additionalProperties !== false) {
    // An object with no fields named and no map: free-form.
    out['x-kubernetes-preserve-unknown-fields'] = true;
  } else if (out.properties && node.additionalProperties === false) {
    // Fields Cairn does not know are kept, not pruned, so that its own check names them (a typo such as
    // `includedNamespace` then fails validation instead of silently widening a backup to everything).
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
  return out;
}

const hasRequired = (schema: TSchema) => Array.isArray((schema as Node).required);

/** The CRD of one kind. */
export function customResourceDefinition(kind: CairnKind): CustomResourceDefinition {
  const info = CAIRN_KINDS[kind];
  const openAPIV3Schema: JSONSchemaProps = {
    type: 'object',
    description: info.description,
    properties: {
      apiVersion: {
        type: 'string',
        description: `The versioned schema of this object: ${API_GROUP}/${API_VERSION}.`,
      },
      kind: { type: 'string', description: `The kind of this object: ${info.kind}.` },
      metadata: { type: 'object' },
      spec: structuralSchema(info.spec, 'spec'),
      status: structuralSchema(info.status, 'status'),
    },
    ...(hasRequired(info.spec) ? { required: ['spec'] } : {}),
    // A misspelt top-level field (`spce`) is kept too, and named by the controller's check (objectProblems).
    'x-kubernetes-preserve-unknown-fields': true,
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${API_GROUP}`,
      labels: {
        'app.kubernetes.io/name': 'cairn',
        'app.kubernetes.io/part-of': 'cairn',
        'app.kubernetes.io/component': 'crds',
      },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: [...info.shortNames],
        categories: [CAIRN_CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema },
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns.map((column) => ({ ...column })),
        },
      ],
    },
  };
}

/** Every CRD of cairn.dev, in a fixed order (the kinds' table order). */
export function customResourceDefinitions(): CustomResourceDefinition[] {
  return (Object.keys(CAIRN_KINDS) as CairnKind[]).map(customResourceDefinition);
}
