// The building blocks of the cairn.dev/v1 schemas: string enums, timestamps, Go durations, object names and
// object metadata, as TypeBox schemas (JSON Schema with static types). Each kind's file builds its spec and
// status from these; validate.ts checks values against them and crds.ts turns them into the CRDs' OpenAPI
// schemas, so what a block allows is the same in the code, in the validation and in the API server.
import {
  FormatRegistry,
  Type,
  type SchemaOptions,
  type StringOptions,
  type TLiteral,
  type TUnion,
} from '@sinclair/typebox';

/** Options every schema of ours may carry beside JSON Schema's: the message for a value it rejects. */
export interface ProblemOptions {
  /** What validation says when a value breaks the schema's pattern or format ("not a duration ..."). */
  errorMessage?: string;
}

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K] & string> };

/** One of a fixed list of strings: a union of literals in TypeBox, an `enum` in the CRD. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnion<Literals<T>> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  ) as unknown as TUnion<Literals<T>>;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

// The API server checks `format: date-time` itself; TypeBox checks only formats it has been told about.
if (!FormatRegistry.Has('date-time'))
  FormatRegistry.Set('date-time', (value) => rfc3339.test(value) && Number.isFinite(Date.parse(value)));

/** A point in time, RFC 3339 (what Kubernetes writes: 2026-05-20T10:00:00Z). */
export const Timestamp = (options: StringOptions & ProblemOptions = {}) =>
  Type.String({
    format: 'date-time',
    errorMessage: 'not a time in RFC 3339 form (example: 2026-05-20T10:00:00Z)',
    ...options,
  });

/** The Go duration syntax of parseGoDuration (duration.ts): "720h", "1h30m", "90s", "720h0m0s", "0". */
export const GO_DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$';

/** A Go duration, as Velero's metav1.Duration fields (ttl, validationFrequency) are written. */
export const GoDuration = (options: StringOptions & ProblemOptions = {}) =>
  Type.String({
    maxLength: 64,
    pattern: GO_DURATION_PATTERN,
    errorMessage: 'not a duration (examples: 720h, 24h30m, 90s)',
    ...options,
  });

/** A DNS-1123 subdomain: the names of most Kubernetes objects (Secrets, BackupLocations). */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

export const DnsSubdomain = (options: StringOptions & ProblemOptions = {}) =>
  Type.String({
    maxLength: 253,
    pattern: DNS_SUBDOMAIN_PATTERN,
    errorMessage:
      'must consist of lower-case letters, digits, "-" and ".", and start and end with a letter or digit',
    ...options,
  });

/** A map of strings (labels, annotations, Velero's provider config). */
export const StringMap = (options: SchemaOptions = {}) => Type.Record(Type.String(), Type.String(), options);

/**
 * The part of metav1.ObjectMeta that Cairn reads and writes. Other fields the API server sets are allowed
 * (no additionalProperties: false); in the CRDs, metadata is the API server's business and stays
 * `type: object`.
 */
export const ObjectMetaSchema = Type.Object({
  name: Type.String(),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  labels: Type.Optional(StringMap()),
  annotations: Type.Optional(StringMap()),
  creationTimestamp: Type.Optional(Timestamp()),
  deletionTimestamp: Type.Optional(Timestamp()),
  finalizers: Type.Optional(Type.Array(Type.String())),
  ownerReferences: Type.Optional(
    Type.Array(
      Type.Object({
        apiVersion: Type.String(),
        kind: Type.String(),
        name: Type.String(),
        uid: Type.String(),
        controller: Type.Optional(Type.Boolean()),
        blockOwnerDeletion: Type.Optional(Type.Boolean()),
      }),
    ),
  ),
});
