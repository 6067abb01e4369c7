// Bad input, every spec field: for each cairn.dev kind, every field of its spec schema is given a value of
// the wrong type and, where the schema constrains its form (a pattern, an enum, a minimum), a string or
// number of the wrong form; each object that names its fields also gets a field it does not have. Cairn's
// own check (objectProblems, what the server's reconcilers run) must name the field's path and the value;
// the API server of cluster a, sent the object raw (a dry-run POST, as `kubectl apply --validate=false`
// sends it: nothing is stored), must refuse what its CRD schema can say, naming the field (and the value,
// but for a wrong type, where it names the type it got), and keeps unknown fields for Cairn's check.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CAIRN_KINDS,
  objectProblems,
  schemaProblems,
  type CairnKind,
  type SpecProblem,
} from '../../src/api/index.ts';
import type { TSchema } from '@sinclair/typebox';
import type { KubeObject } from '../../src/kube/index.ts';
import { recordReliability } from '../helpers/reliability.ts';
import { getCr, installCrds, startServer } from '../helpers/server.ts';
import { clusterClient, eventually, testNamespace } from '../helpers/testbed.ts';

interface Node {
  type?: string;
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: boolean | Node;
  patternProperties?: Record<string, Node>;
  items?: Node;
  anyOf?: Node[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  minItems?: number;
}

const fits = (schema: Node, value: unknown) => schemaProblems(schema as TSchema, value).length === 0;

/** Strings tried, in order, for a valid value of a constrained string. */
const SAMPLE_STRINGS = ['a', '1h', '2026-01-01T00:00:00Z', 'https://a.example', 'ConfigMap'];

/** A valid value of a schema: its default, its first choice, or the simplest value that fits. */
function validOf(schema: Node): unknown {
  if (schema.default !== undefined) return structuredClone(schema.default);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf) {
    for (const member of schema.anyOf) {
      const value = validOf(member);
      if (fits(schema, value)) return value;
    }
  }
  switch (schema.type) {
    case 'string':
      return SAMPLE_STRINGS.find((s) => fits(schema, s)) ?? 'a';
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 0, 1);
    case 'boolean':
      return true;
    case 'array':
      return schema.minItems ? [validOf(schema.items ?? {})] : [];
    case 'object': {
      const object: Record<string, unknown> = {};
      for (const name of schema.required ?? []) object[name] = validOf(schema.properties?.[name] ?? {});
      return object;
    }
    default:
      return {};
  }
}

interface Case {
  /** The field's path as Cairn's problems write it, relative to the spec. */
  field: string;
  /** The wrong value, and the spec holding it (every other field valid). */
  value: unknown;
  spec: unknown;
  /** Whether the value has the field's type (a wrong form) or not (a wrong type, or an unknown field). */
  wrong: 'type' | 'form' | 'unknown field';
}

const isStringChoice = (schema: Node) =>
  schema.anyOf?.every((m) => typeof m.const === 'string') === true || schema.enum !== undefined;

/** Wrong values of a field's schema: a value of another type, then strings or numbers of a wrong form. */
function wrongValues(schema: Node): { value: unknown; wrong: 'type' | 'form' }[] {
  const out: { value: unknown; wrong: 'type' | 'form' }[] = [];
  const type = schema.type ?? (isStringChoice(schema) ? 'string' : undefined);
  if (type === 'string') {
    out.push({ value: 12345, wrong: 'type' });
    if (!fits(schema, 'Bad Value!')) out.push({ value: 'Bad Value!', wrong: 'form' });
  } else if (type === 'integer' || type === 'number') {
    out.push({ value: 'abc', wrong: 'type' });
    if (schema.minimum !== undefined) out.push({ value: schema.minimum - 1, wrong: 'form' });
  } else if (type === 'boolean') out.push({ value: 'maybe', wrong: 'type' });
  else if (type === 'array') out.push({ value: 'not-a-list', wrong: 'type' });
  else if (type === 'object') out.push({ value: 'not-an-object', wrong: 'type' });
  else if (schema.anyOf) out.push({ value: [], wrong: 'type' }); // int-or-string
  return out;
}

const childPath = (path: string, name: string) => (path ? `${path}.${name}` : name);

/** Every case of a schema, each in a whole spec built by `build` (which puts the field's value in place). */
function casesOf(schema: Node, path: string, build: (value: unknown) => unknown, out: Case[]): Case[] {
  for (const { value, wrong } of path ? wrongValues(schema) : [])
    out.push({ field: path, value, spec: build(value), wrong });
  if (schema.type === 'object' && schema.properties) {
    if (schema.additionalProperties === false) {
      const value = 'x';
      const object = { ...(validOf(schema) as object), notAField: value };
      out.push({ field: childPath(path, 'notAField'), value, spec: build(object), wrong: 'unknown field' });
    }
    for (const [name, property] of Object.entries(schema.properties))
      casesOf(
        property,
        childPath(path, name),
        (v) => build({ ...(validOf(schema) as object), [name]: v }),
        out,
      );
  } else if (schema.type === 'object') {
    const values = schema.additionalProperties ?? Object.values(schema.patternProperties ?? {})[0];
    if (typeof values === 'object') casesOf(values, `${path}.key1`, (v) => build({ key1: v }), out);
  } else if (schema.type === 'array' && schema.items) {
    casesOf(schema.items, `${path}[0]`, (v) => build([v]), out);
  }
  return out;
}

/** The text Cairn's problems give a value (validate.ts's valueText). */
const textOf = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The API server's path of a spec field. */
const serverPath = (field: string) => `spec.${field}`;

describe('every spec field with a wrong value', () => {
  it("is named with its value by Cairn's check, and refused by the API server where its CRD can say so", async () => {
    const client = clusterClient('a');
    await installCrds(client);
    const failures: string[] = [];
    let cases = 0;
    let refusedByServer = 0;
    let keptForCairn = 0;
    for (const [kind, info] of Object.entries(CAIRN_KINDS) as [
      CairnKind,
      (typeof CAIRN_KINDS)[CairnKind],
    ][]) {
      const schema = info.spec as unknown as Node;
      const valid = validOf(schema);
      assert.deepEqual(objectProblems(kind, { spec: valid }), [], `${kind}: the base spec is valid`);
      for (const c of casesOf(schema, '', (v) => v, [])) {
        cases += 1;
        const where = `${kind} spec.${c.field} ${textOf(c.value)}`;
        const problems: SpecProblem[] = objectProblems(kind, { spec: c.spec });
        if (!problems.some((p) => p.field === c.field && p.value === textOf(c.value)))
          failures.push(`${where}: Cairn's check said ${JSON.stringify(problems)}`);

        const response = await client.send({
          method: 'POST',
          path: `/apis/cairn.dev/v1/namespaces/default/${info.plural}`,
          query: { dryRun: 'All' },
          body: { apiVersion: 'cairn.dev/v1', kind, metadata: { name: 'spec-field-check' }, spec: c.spec },
        });
        const said = response.body.toString('utf8');
        if (response.status < 300) {
          // Kept as it is: an unknown field, or a form only Cairn's check knows.
          if (c.wrong === 'type')
            failures.push(`${where}: the API server accepted a value of the wrong type`);
          keptForCairn += 1;
          continue;
        }
        refusedByServer += 1;
        const message = (JSON.parse(said) as { message?: string }).message ?? said;
        if (!message.includes(serverPath(c.field)))
          failures.push(`${where}: the API server (${response.status}) did not name the field: ${message}`);
        else if (c.wrong === 'form' && !message.includes(textOf(c.value)))
          failures.push(`${where}: the API server (${response.status}) did not name the value: ${message}`);
      }
    }
    assert.deepEqual(failures, []);
    recordReliability({
      section: 'Bad input',
      subject: 'spec fields of every cairn.dev kind',
      tried:
        'each field with a value of the wrong type, of the wrong form (pattern, enum, minimum), and an unknown field',
      cases,
      outcome:
        `refused: Cairn's check named the field and the value in every case; the API server refused ` +
        `${refusedByServer} (naming the field, and the value for a wrong form), and kept ${keptForCairn} ` +
        "(unknown fields, forms only Cairn's check knows) for Cairn's check",
      lost: 'nothing (dry-run requests)',
    });
  });

  it("is refused by the server's reconcilers, naming the field and the value, when the API server kept it", async (t) => {
    const client = clusterClient('a');
    await installCrds(client);
    const namespace = await testNamespace(t, client, 'spec-fields');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-spec-fields-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    // What the API server keeps, for Cairn's check to name: a misspelt field of each reconciled kind, sent
    // as a client that asks for no field validation sends it (kubectl --validate=false).
    const typos: { kind: CairnKind; spec: Record<string, unknown>; field: string; value: string }[] = [
      {
        kind: 'Backup',
        spec: { includedNamespace: ['shop'] },
        field: 'includedNamespace',
        value: '["shop"]',
      },
      {
        kind: 'Restore',
        spec: { backupName: 'nightly', namespaceMappings: { shop: 'shop-copy' } },
        field: 'namespaceMappings',
        value: '{"shop":"shop-copy"}',
      },
      {
        kind: 'Schedule',
        spec: { schedule: '@daily', template: { ttll: '24h' } },
        field: 'template.ttll',
        value: '24h',
      },
      {
        kind: 'BackupLocation',
        spec: { provider: 'fs', config: { path: dir }, acessMode: 'ReadOnly' },
        field: 'acessMode',
        value: 'ReadOnly',
      },
    ];
    for (const { kind, spec } of typos)
      await client.json({
        method: 'POST',
        path: `/apis/cairn.dev/v1/namespaces/${namespace}/${CAIRN_KINDS[kind].plural}`,
        query: { fieldValidation: 'Ignore' },
        body: { apiVersion: 'cairn.dev/v1', kind, metadata: { name: 'typo' }, spec },
      });
    const server = await startServer({ client, namespace, identity: 'spec-fields' });
    t.after(() => server.stop());
    for (const { kind, field, value } of typos) {
      const said = await eventually(
        `${kind} typo to be refused`,
        async () => {
          const object = await getCr<KubeObject & { status?: Record<string, unknown> }>(
            client,
            namespace,
            kind,
            'typo',
          );
          const status = object?.status ?? {};
          if (kind === 'BackupLocation')
            return status.phase === 'Unavailable' ? String(status.message) : undefined;
          return status.phase === 'FailedValidation'
            ? (status.validationErrors as string[]).join('\n')
            : undefined;
        },
        180_000,
      );
      assert.ok(
        said.includes(`${field}: is not a field of this kind (got ${JSON.stringify(value)})`),
        `${kind}: ${said}`,
      );
    }
    assert.equal((await readdir(dir)).length, 0, 'nothing was written to the misspelt location');
    recordReliability({
      section: 'Bad input',
      subject: "the server's reconcilers (Backup, Restore, Schedule, BackupLocation)",
      tried: 'a misspelt spec field the API server keeps (sent with fieldValidation=Ignore)',
      cases: typos.length,
      outcome:
        'refused: FailedValidation (a BackupLocation: Unavailable), the message naming the field and the value',
      lost: 'nothing',
    });
  });
});
