// Velero's Schedules, BackupStorageLocations and Backups (velero.io/v1) as Cairn's (cairn.dev/v1): the pure
// conversions behind `cairn import velero`. Field names are mostly Velero's already (docs/api.md,
// "Converting from Velero"); what differs is converted here: label selectors (objects in Velero, their
// text form in Cairn), provider names, fields Cairn does not have (dropped, each with a warning naming it),
// and Velero's backup phases. The input comes from YAML or from a cluster, so it is checked at run time;
// the result must pass the same validation the API server applies (specProblems), or it is refused with
// problems that name the field and the value, and nothing of it is imported.
import {
  CAIRN_API_VERSION,
  VELERO_API_VERSION,
  type Backup,
  type BackupPhase,
  type BackupSpec,
} from './backup.ts';
import { parseGoDuration } from './duration.ts';
import {
  formatLabelSelector,
  labelKeyProblem,
  labelSelectorFromObject,
  labelValueProblem,
} from './labels.ts';
import { specProblems, statusProblems, type CairnKind } from './kinds.ts';
import {
  locationProblems,
  normalizeProvider,
  type BackupLocation,
  type BackupLocationSpec,
} from './location.ts';
import type { Schedule, ScheduleSpec, ScheduleStatus } from './schedule.ts';
import type { SpecProblem } from './validate.ts';
import { ANNOTATIONS } from './vocabulary.ts';

/** The Velero kinds `cairn import velero` converts, and the Cairn kind each becomes. */
export const VELERO_IMPORT_KINDS = {
  BackupStorageLocation: { plural: 'backupstoragelocations', cairnKind: 'BackupLocation' },
  Schedule: { plural: 'schedules', cairnKind: 'Schedule' },
  Backup: { plural: 'backups', cairnKind: 'Backup' },
} as const satisfies Record<string, { plural: string; cairnKind: CairnKind }>;
export type VeleroImportKind = keyof typeof VELERO_IMPORT_KINDS;

/** On every imported object: where it came from (`velero.io/v1 Schedule velero/nightly`). */
export const IMPORTED_FROM_ANNOTATION = ANNOTATIONS.importedFrom;
/**
 * On imported Backups: the location their files are in. The controllers' mark of a Backup that records a
 * stored backup rather than asks for one (SYNCED_ANNOTATION of src/controller/backup-controller.ts): the
 * Backup controller leaves such a Backup alone, so an imported Backup is never run again by Cairn.
 */
export const SYNCED_FROM_ANNOTATION = ANNOTATIONS.syncedFrom;

/**
 * A Velero object as read from YAML or from the API server: nothing about its shape is trusted. A field
 * that is not what Velero writes is a problem, not a crash.
 */
export interface VeleroObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: unknown;
  spec?: unknown;
  status?: unknown;
}

export interface VeleroImportOptions {
  /** The namespace the Cairn object is made for (Cairn's server namespace). */
  namespace: string;
  /**
   * Keep a schedule running if Velero's runs (unpaused). Default: every schedule is imported paused, so
   * that it does not back up beside Velero's until it is unpaused.
   */
  unpause?: boolean | undefined;
}

/**
 * The Cairn object and what the conversion left behind (a dropped field, a setting Cairn ignores, a
 * Secret to copy), or why the object cannot be imported.
 */
export type VeleroConversion<T> = { object: T; warnings: string[] } | { problems: SpecProblem[] };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Unset in Velero's sense: absent or null (the documented examples write `snapshotVolumes: null`). */
const isUnset = (value: unknown): value is null | undefined => value === undefined || value === null;

/** "Empty" values of dropped fields: nothing is lost by dropping them, so no warning. */
const isEmpty = (value: unknown): boolean =>
  isUnset(value) ||
  value === '' ||
  (Array.isArray(value) && value.length === 0) ||
  (isRecord(value) && Object.values(value).every(isEmpty));

function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

/** "dropped (value)", the value left out when it is too long to read in a line (hooks, ordered resources). */
function dropped(value: unknown): string {
  const text = shown(value);
  return text.length <= 60 ? `dropped (${text})` : 'dropped';
}

/** Collects what one object's conversion found. */
class Findings {
  readonly warnings: string[] = [];
  readonly problems: SpecProblem[] = [];

  warn(field: string, text: string): void {
    this.warnings.push(`${field}: ${text}`);
  }

  problem(field: string, value: unknown, message: string): void {
    this.problems.push({ field, value: isUnset(value) ? '' : shown(value), message });
  }

  /** The schema's problems for a kind's spec (or status), with their paths under `at`; one per field. */
  check(problems: SpecProblem[], at: string): void {
    for (const p of problems) {
      const field = p.field === '.' ? at : `${at}.${p.field}`;
      if (!this.problems.some((q) => q.field === field)) this.problems.push({ ...p, field });
    }
  }

  result<T>(object: T): VeleroConversion<T> {
    return this.problems.length > 0 ? { problems: this.problems } : { object, warnings: this.warnings };
  }
}

// --- Label selectors ---------------------------------------------------------------------------------------

// Keys and values are checked by the label module (src/api/labels.ts), the one home of label vocabulary;
// this conversion adds the field paths of Velero's object form to its problems.
const keyProblem = (key: string) => {
  const problem = labelKeyProblem(key);
  return problem && `not a label key: ${problem}`;
};
const valueProblem = (value: string) => {
  const problem = labelValueProblem(value);
  return problem && `not a label value: ${problem}`;
};

/**
 * A metav1.LabelSelector ({matchLabels, matchExpressions}) in the API server's text form, which Cairn's
 * labelSelector fields hold, as `kubectl` and Velero print it (requirements sorted by key, values sorted):
 * matchLabels as `k=v`, In as `k in (a,b)`, NotIn as `k notin (a,b)`, Exists as `k`, DoesNotExist as `!k`.
 * All must match (AND), as in the object form; an
 * empty selector is "" (everything). Problems name the field (`spec.labelSelector.matchExpressions[0].operator`).
 */
export function labelSelectorText(
  selector: unknown,
  field: string,
): { text: string } | { problems: SpecProblem[] } {
  const found = new Findings();
  if (!isRecord(selector)) {
    found.problem(field, selector, 'must be a label selector object (matchLabels, matchExpressions)');
    return { problems: found.problems };
  }
  for (const key of Object.keys(selector)) {
    if (key !== 'matchLabels' && key !== 'matchExpressions')
      found.problem(`${field}.${key}`, selector[key], 'is not a field of a label selector');
  }
  const { matchLabels, matchExpressions } = selector;
  if (!isUnset(matchLabels)) {
    if (!isRecord(matchLabels))
      found.problem(`${field}.matchLabels`, matchLabels, 'must be a map of strings');
    else
      for (const [key, value] of Object.entries(matchLabels)) {
        const at = `${field}.matchLabels[${JSON.stringify(key)}]`;
        const problem =
          keyProblem(key) ?? (typeof value === 'string' ? valueProblem(value) : 'must be a string');
        if (problem) found.problem(at, value, problem);
      }
  }
  if (!isUnset(matchExpressions)) {
    if (!Array.isArray(matchExpressions))
      found.problem(`${field}.matchExpressions`, matchExpressions, 'must be a list');
    else
      for (const [i, expression] of (matchExpressions as unknown[]).entries()) {
        const at = `${field}.matchExpressions[${i}]`;
        checkExpression(expression, at, found);
      }
  }
  if (found.problems.length > 0) return { problems: found.problems };
  // Valid: the label module writes the text, as `kubectl` prints it (keys and values sorted).
  return { text: formatLabelSelector(labelSelectorFromObject(selector)) };
}

/** Finds what is wrong with one of matchExpressions, naming its fields. */
function checkExpression(expression: unknown, at: string, found: Findings): void {
  if (!isRecord(expression)) {
    found.problem(at, expression, 'must be an object (key, operator, values)');
    return;
  }
  const { key, operator, values } = expression;
  for (const name of Object.keys(expression)) {
    if (!['key', 'operator', 'values'].includes(name))
      found.problem(`${at}.${name}`, expression[name], 'is not a field of a label selector requirement');
  }
  if (typeof key !== 'string') found.problem(`${at}.key`, key, 'must be a string');
  else {
    const problem = keyProblem(key);
    if (problem) found.problem(`${at}.key`, key, problem);
  }
  const list = isUnset(values) ? [] : values;
  if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) {
    found.problem(`${at}.values`, values, 'must be a list of strings');
    return;
  }
  const strings = list as string[];
  for (const [i, value] of strings.entries()) {
    const problem = valueProblem(value);
    if (problem) found.problem(`${at}.values[${i}]`, value, problem);
  }
  switch (operator) {
    case 'In':
    case 'NotIn':
      if (strings.length === 0)
        found.problem(`${at}.values`, '[]', `must have at least 1 value for operator ${operator}`);
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (strings.length > 0)
        found.problem(`${at}.values`, strings, `must be empty for operator ${operator}`);
      break;
    default:
      found.problem(`${at}.operator`, operator, 'must be one of In, NotIn, Exists, DoesNotExist');
  }
}

// --- Metadata ----------------------------------------------------------------------------------------------

/** Annotations that describe the Velero object itself, meaningless on the Cairn one. */
const droppedAnnotations = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  // A Velero server setting recorded on each Backup.
  'velero.io/resource-timeout',
]);

interface ConvertedMetadata {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations: Record<string, string>;
}

function stringMap(value: unknown, field: string, found: Findings): Record<string, string> | undefined {
  if (isUnset(value)) return undefined;
  if (!isRecord(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    found.problem(field, value, 'must be a map of strings');
    return undefined;
  }
  return value as Record<string, string>;
}

/**
 * Name, labels and annotations kept; the namespace is the target's; what only the source cluster knows
 * (uid, resourceVersion, timestamps, managed fields, finalizers, owner references) goes.
 */
function metadataOf(
  input: VeleroObject,
  kind: VeleroImportKind,
  options: VeleroImportOptions,
  found: Findings,
): ConvertedMetadata {
  const metadata = isRecord(input.metadata) ? input.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  if (name === '') found.problem('metadata.name', metadata.name, 'is required');
  const labels = stringMap(metadata.labels, 'metadata.labels', found);
  const annotations = Object.fromEntries(
    Object.entries(stringMap(metadata.annotations, 'metadata.annotations', found) ?? {}).filter(
      ([key]) => !droppedAnnotations.has(key),
    ),
  );
  const from = typeof metadata.namespace === 'string' ? `${metadata.namespace}/${name}` : name;
  annotations[IMPORTED_FROM_ANNOTATION] = `${VELERO_API_VERSION} ${kind} ${from}`;
  if (Array.isArray(metadata.ownerReferences) && metadata.ownerReferences.length > 0) {
    const owners = (metadata.ownerReferences as unknown[])
      .map((o) => (isRecord(o) ? `${String(o.kind)} ${String(o.name)}` : shown(o)))
      .join(', ');
    found.warn('metadata.ownerReferences', `dropped (they point at Velero's objects: ${owners})`);
  }
  return {
    name,
    namespace: options.namespace,
    ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
    annotations,
  };
}

// --- Backup specs ------------------------------------------------------------------------------------------

/** Velero BackupSpec fields Cairn has, with the same meaning: copied as they are. */
const keptBackupFields = [
  'includedNamespaces',
  'excludedNamespaces',
  'includedResources',
  'excludedResources',
  'includeClusterResources',
  'storageLocation',
  'snapshotVolumes',
  'snapshotMoveData',
  'csiSnapshotTimeout',
  'defaultVolumesToFsBackup',
] as const;

/** Kept fields whose value is Cairn's default too: left unset, as Cairn's own specs leave them. */
const keptDefaults: Partial<Record<(typeof keptBackupFields)[number], unknown>> = {
  snapshotVolumes: false,
  snapshotMoveData: false,
  defaultVolumesToFsBackup: false,
  csiSnapshotTimeout: '10m0s',
};

/** Velero BackupSpec fields Cairn does not have: why each is dropped, and its value that loses nothing. */
const droppedBackupFields: Record<string, { reason: string; harmless?: unknown }> = {
  volumeSnapshotLocations: {
    reason: "Cairn takes CSI snapshots only, with each driver's VolumeSnapshotClass: no snapshot locations",
  },
  volumeGroupSnapshotLabelKey: {
    reason: 'Cairn takes no volume group snapshots',
    harmless: 'velero.io/volume-group',
  },
  datamover: { reason: 'Cairn moves snapshot data itself', harmless: 'velero' },
  uploaderConfig: { reason: "Cairn's uploader has no such settings" },
  orderedResources: { reason: 'Cairn backs up in its own order' },
  itemOperationTimeout: {
    reason: 'Cairn runs no plugin item operations',
    harmless: '4h0m0s',
  },
  includedNamespaceScopedResources: {
    reason: "Cairn has only the includedResources filter: the backup takes every namespace's resources",
  },
  includedClusterScopedResources: {
    reason:
      'Cairn has only the includedResources filter: the cluster-scoped resources are chosen by ' +
      'includeClusterResources (unset: those related to the backed-up objects)',
  },
};

/** Velero's newer exclusion filters: the same as excludedResources for resources of their scope. */
const mergedExclusions = ['excludedNamespaceScopedResources', 'excludedClusterScopedResources'] as const;

const isZeroDuration = (value: unknown) => typeof value === 'string' && parseGoDuration(value) === 0;

/** Equal values, durations by length ("10m" is "10m0s"). */
function sameValue(value: unknown, expected: unknown): boolean {
  if (value === expected) return true;
  if (typeof value !== 'string' || typeof expected !== 'string') return false;
  const ms = parseGoDuration(value);
  return ms !== undefined && ms === parseGoDuration(expected);
}

/**
 * A Velero BackupSpec (a Backup's spec, a Schedule's template) as Cairn's: kept fields copied, selectors
 * in text form, exclusion filters merged, the rest dropped with a warning. Fields are named under `at`.
 */
function backupSpecOf(input: unknown, at: string, found: Findings): BackupSpec {
  if (isUnset(input)) return {};
  if (!isRecord(input)) {
    found.problem(at, input, 'must be an object');
    return {};
  }
  const spec: Record<string, unknown> = {};
  for (const field of keptBackupFields)
    if (!isUnset(input[field]) && !(field in keptDefaults && sameValue(input[field], keptDefaults[field])))
      spec[field] = input[field];

  if (!isUnset(input.ttl)) {
    if (isZeroDuration(input.ttl))
      found.warn(
        `${at}.ttl`,
        `"${shown(input.ttl)}" is Velero's "the server's default": left unset, which is Cairn's default ` +
          '(720h0m0s); in Cairn a ttl of 0 would expire the backup at once',
      );
    else spec.ttl = input.ttl;
  }

  // Velero's old name of defaultVolumesToFsBackup.
  if (input.defaultVolumesToRestic === true && spec.defaultVolumesToFsBackup === undefined) {
    spec.defaultVolumesToFsBackup = true;
    found.warn(`${at}.defaultVolumesToRestic`, 'kept as defaultVolumesToFsBackup, its new name');
  }

  // Velero's volume policy ConfigMap: kept, but read from Cairn's namespace.
  if (isRecord(input.resourcePolicy) && typeof input.resourcePolicy.name === 'string') {
    spec.resourcePolicy = {
      kind: typeof input.resourcePolicy.kind === 'string' ? input.resourcePolicy.kind : 'ConfigMap',
      name: input.resourcePolicy.name,
    };
    found.warn(
      `${at}.resourcePolicy`,
      `kept: Cairn reads ConfigMap ${input.resourcePolicy.name} from its own namespace, not Velero's: copy it there`,
    );
  } else if (!isUnset(input.resourcePolicy))
    found.problem(`${at}.resourcePolicy`, input.resourcePolicy, 'must be an object with kind and name');

  const metadata = input.metadata;
  if (isRecord(metadata)) {
    const labels = stringMap(metadata.labels, `${at}.metadata.labels`, found);
    if (labels && Object.keys(labels).length > 0) spec.metadata = { labels };
    for (const key of Object.keys(metadata))
      if (key !== 'labels' && !isEmpty(metadata[key]))
        found.warn(`${at}.metadata.${key}`, 'dropped: a template gives its backups labels only');
  } else if (!isUnset(metadata)) found.problem(`${at}.metadata`, metadata, 'must be an object');

  if (!isUnset(input.labelSelector)) {
    const converted = labelSelectorText(input.labelSelector, `${at}.labelSelector`);
    if ('problems' in converted) found.problems.push(...converted.problems);
    else if (converted.text !== '') spec.labelSelector = converted.text;
  }
  if (!isUnset(input.orLabelSelectors)) {
    if (!Array.isArray(input.orLabelSelectors))
      found.problem(`${at}.orLabelSelectors`, input.orLabelSelectors, 'must be a list of label selectors');
    else if (input.orLabelSelectors.length > 0) {
      const texts: string[] = [];
      for (const [i, selector] of (input.orLabelSelectors as unknown[]).entries()) {
        const converted = labelSelectorText(selector, `${at}.orLabelSelectors[${i}]`);
        if ('problems' in converted) found.problems.push(...converted.problems);
        else texts.push(converted.text);
      }
      spec.orLabelSelectors = texts;
    }
  }
  if (spec.labelSelector !== undefined && spec.orLabelSelectors !== undefined)
    found.problem(`${at}.orLabelSelectors`, spec.orLabelSelectors, 'cannot be used with labelSelector');

  // Hook sets are Velero's shape, but for their label selectors (text form in Cairn).
  if (isRecord(input.hooks) && Array.isArray(input.hooks.resources) && input.hooks.resources.length > 0) {
    const resources = (input.hooks.resources as unknown[]).map((set, i) => {
      if (!isRecord(set) || isUnset(set.labelSelector)) return set;
      const { labelSelector, ...rest } = set;
      const converted = labelSelectorText(labelSelector, `${at}.hooks.resources[${i}].labelSelector`);
      if ('problems' in converted) {
        found.problems.push(...converted.problems);
        return rest;
      }
      return converted.text === '' ? rest : { ...rest, labelSelector: converted.text };
    });
    spec.hooks = { resources };
  } else if (!isEmpty(input.hooks) && !(isRecord(input.hooks) && isEmpty(input.hooks.resources)))
    found.problem(`${at}.hooks`, input.hooks, 'must be an object with a list of resources');

  const exclusions: string[] = [];
  for (const field of mergedExclusions) {
    const value = input[field];
    if (isEmpty(value)) continue;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      found.problem(`${at}.${field}`, value, 'must be a list of strings');
      continue;
    }
    exclusions.push(...(value as string[]));
    found.warn(`${at}.${field}`, 'merged into excludedResources (the same exclusion in Cairn)');
  }
  if (exclusions.length > 0) {
    const excluded = Array.isArray(spec.excludedResources) ? (spec.excludedResources as unknown[]) : [];
    spec.excludedResources = [...new Set([...excluded, ...exclusions])];
  }

  const handled = new Set<string>([
    ...keptBackupFields,
    ...mergedExclusions,
    'ttl',
    'metadata',
    'labelSelector',
    'orLabelSelectors',
    'hooks',
    'resourcePolicy',
    'defaultVolumesToRestic',
  ]);
  for (const [field, value] of Object.entries(input)) {
    if (handled.has(field) || isEmpty(value)) continue;
    const known = droppedBackupFields[field];
    if (known && 'harmless' in known && sameValue(value, known.harmless)) continue;
    found.warn(`${at}.${field}`, `${dropped(value)}: ${known?.reason ?? 'Cairn has no such field'}`);
  }
  return spec;
}

// --- Schedules ---------------------------------------------------------------------------------------------

/**
 * A Velero Schedule as Cairn's: schedule, template, paused, skipImmediately, useOwnerReferencesInBackup;
 * of its status, lastBackup and lastSkipped, so the schedule goes on from Velero's last run instead of
 * backing up at once. The cron syntax is the controller's to check (parseSchedule), not this module's.
 */
export function fromVeleroSchedule(
  input: VeleroObject,
  options: VeleroImportOptions,
): VeleroConversion<Schedule> {
  const found = new Findings();
  const metadata = metadataOf(input, 'Schedule', options, found);
  const source = isRecord(input.spec) ? input.spec : {};
  if (!isRecord(input.spec)) found.problem('spec', input.spec, 'must be an object');
  const spec: Record<string, unknown> = {
    ...(isUnset(source.schedule) ? {} : { schedule: source.schedule }),
    template: backupSpecOf(source.template, 'spec.template', found),
  };
  for (const field of ['paused', 'skipImmediately', 'useOwnerReferencesInBackup'] as const)
    if (!isUnset(source[field])) spec[field] = source[field];
  for (const [field, value] of Object.entries(source))
    if (!(field in spec) && field !== 'template' && field !== 'schedule' && !isEmpty(value))
      found.warn(`spec.${field}`, `${dropped(value)}: Cairn has no such field`);
  found.check(specProblems('Schedule', spec), 'spec');

  const velero = isRecord(input.status) ? input.status : {};
  const status: ScheduleStatus = {};
  if (typeof velero.lastBackup === 'string') status.lastBackup = velero.lastBackup;
  if (typeof velero.lastSkipped === 'string') status.lastSkipped = velero.lastSkipped;
  found.check(statusProblems('Schedule', status), 'status');
  if (spec.paused !== true && !options.unpause) {
    // Imported paused: Velero's schedule still runs, and both would back up at once.
    spec.paused = true;
    found.warn(
      'spec.paused',
      `imported paused: pause Velero's schedule (velero schedule pause ${metadata.name}), then start this ` +
        `one (cairn schedule unpause ${metadata.name}), or import with --unpause`,
    );
  } else if (spec.paused !== true)
    found.warn(
      'spec.paused',
      `false: while Velero's schedule runs too, both make backups; pause one of them ` +
        `(velero schedule pause ${metadata.name}, or cairn schedule pause ${metadata.name})`,
    );
  return found.result<Schedule>({
    apiVersion: CAIRN_API_VERSION,
    kind: 'Schedule',
    metadata,
    spec: spec as ScheduleSpec,
    ...(Object.keys(status).length > 0 ? { status } : {}),
  });
}

// --- Backup storage locations ------------------------------------------------------------------------------

/** The config keys Cairn reads, by provider (docs/api.md, BackupLocation). */
const configKeys: Record<BackupLocationSpec['provider'], readonly string[]> = {
  fs: ['path'],
  s3: ['region', 's3Url', 's3ForcePathStyle'],
  azure: ['storageAccount', 'storageAccountURI', 'storageAccountKeyEnvVar'],
  gcs: ['endpoint', 'project'],
};

/**
 * A Velero BackupStorageLocation as Cairn's BackupLocation. Imported locations are `plaintext: true`: the
 * backups Velero wrote there are unencrypted, and Cairn's backups there stay readable by Velero.
 */
export function fromVeleroBackupStorageLocation(
  input: VeleroObject,
  options: VeleroImportOptions,
): VeleroConversion<BackupLocation> {
  const found = new Findings();
  const metadata = metadataOf(input, 'BackupStorageLocation', options, found);
  const source = isRecord(input.spec) ? input.spec : {};
  if (!isRecord(input.spec)) found.problem('spec', input.spec, 'must be an object');
  const spec: Record<string, unknown> = {};

  const provider = typeof source.provider === 'string' ? normalizeProvider(source.provider) : undefined;
  if (!provider)
    found.problem(
      'spec.provider',
      source.provider,
      "has no Cairn counterpart: Cairn stores backups in s3 (Velero's aws), gcs (gcp), azure or fs",
    );
  else spec.provider = provider;

  const storage = source.objectStorage;
  if (isRecord(storage)) {
    spec.objectStorage = {
      bucket: storage.bucket,
      ...(!isUnset(storage.prefix) && storage.prefix !== '' ? { prefix: storage.prefix } : {}),
    };
    for (const field of ['caCert', 'caCertRef'])
      if (!isEmpty(storage[field]))
        found.warn(
          `spec.objectStorage.${field}`,
          "dropped: Cairn does not take a CA certificate for the store yet (it trusts Node's CAs)",
        );
    for (const [field, value] of Object.entries(storage))
      if (!['bucket', 'prefix', 'caCert', 'caCertRef'].includes(field) && !isEmpty(value))
        found.warn(`spec.objectStorage.${field}`, `${dropped(value)}: Cairn has no such field`);
  } else if (!isUnset(storage)) found.problem('spec.objectStorage', storage, 'must be an object');

  const config = stringMap(source.config, 'spec.config', found);
  if (config && Object.keys(config).length > 0) {
    spec.config = config;
    if (provider) {
      const ignored = Object.keys(config).filter(
        // Cairn reads the default profile of the credentials file, as Velero does unless told otherwise.
        (key) => !configKeys[provider].includes(key) && !(key === 'profile' && config[key] === 'default'),
      );
      if (ignored.length > 0)
        found.warn(
          'spec.config',
          `kept, but Cairn ignores ${ignored.join(', ')} (it reads ${configKeys[provider].join(', ')})`,
        );
    }
    if (config.profile !== undefined && config.profile !== 'default')
      found.warn(
        'spec.config.profile',
        `"${config.profile}": Cairn reads the [default] profile of the credentials file`,
      );
  }

  const credential = source.credential;
  const veleroNamespace = isRecord(input.metadata) ? input.metadata.namespace : undefined;
  if (isRecord(credential)) {
    spec.credential = { name: credential.name, key: credential.key };
    found.warn(
      'spec.credential',
      `copy the Secret "${String(credential.name)}" (key "${String(credential.key)}")` +
        `${typeof veleroNamespace === 'string' ? ` from namespace ${veleroNamespace}` : ''} to namespace ` +
        `${options.namespace}: Cairn reads it there`,
    );
  } else if (!isUnset(credential)) found.problem('spec.credential', credential, 'must be an object');
  else
    found.warn(
      'spec.credential',
      "unset: Velero used its server's own credentials (by default the Secret cloud-credentials, key " +
        "cloud); without a credential Cairn uses the environment's (instance role, workload identity)",
    );
  if (provider === 'azure') {
    if (!config?.storageAccount)
      found.problem(
        'spec.config.storageAccount',
        config?.storageAccount,
        'is needed: Cairn reaches the storage account by name (resourceGroup and subscriptionId are not used)',
      );
    found.warn(
      'spec.credential',
      'Cairn reads AZURE_STORAGE_CONNECTION_STRING=..., or the storage account key ' +
        `${config?.storageAccountKeyEnvVar ?? 'AZURE_STORAGE_ACCOUNT_ACCESS_KEY'}=... (Velero's ` +
        'storageAccountKeyEnvVar), from the Secret; not a service principal (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)',
    );
  }

  if (!isUnset(source.default)) spec.default = source.default;
  if (!isUnset(source.accessMode)) spec.accessMode = source.accessMode;
  for (const field of ['validationFrequency', 'backupSyncPeriod'] as const)
    if (!isUnset(source[field])) spec[field] = source[field];

  const encryption = source.encryption;
  if (isRecord(encryption) && !isUnset(encryption.type) && encryption.type !== 'none')
    found.warn(
      'spec.encryption',
      `dropped (type ${shown(encryption.type)}): Cairn cannot read the backups Velero encrypted this way`,
    );
  const handled = [
    'provider',
    'objectStorage',
    'config',
    'credential',
    'default',
    'accessMode',
    'validationFrequency',
    'backupSyncPeriod',
    'encryption',
  ];
  for (const [field, value] of Object.entries(source))
    if (!handled.includes(field) && !isEmpty(value))
      found.warn(`spec.${field}`, `${dropped(value)}: Cairn has no such field`);

  spec.plaintext = true;
  found.warn(
    'spec.plaintext',
    "true: Cairn reads and writes this location unencrypted, as Velero does, so both read each other's " +
      'backups there; encrypted backups need a location of their own',
  );

  found.check(specProblems('BackupLocation', spec), 'spec');
  if (provider && found.problems.length === 0)
    found.check(locationProblems(spec as BackupLocationSpec), 'spec');
  return found.result<BackupLocation>({
    apiVersion: CAIRN_API_VERSION,
    kind: 'BackupLocation',
    metadata,
    spec: spec as BackupLocationSpec,
  });
}

// --- Backups -----------------------------------------------------------------------------------------------

/** Velero's phases of a backup that ended, as Cairn's. */
const endedPhases: Record<string, BackupPhase> = {
  Completed: 'Completed',
  PartiallyFailed: 'PartiallyFailed',
  Failed: 'Failed',
  FailedValidation: 'FailedValidation',
};
/** Velero's phases of a backup that has not run yet, or still runs: nothing to import yet. */
const unfinishedPhases = new Set(['', 'New', 'Queued', 'ReadyToStart', 'InProgress']);

/** Velero status fields Cairn keeps as they are. */
const keptStatusFields = [
  'version',
  'formatVersion',
  'validationErrors',
  'failureReason',
  'startTimestamp',
  'completionTimestamp',
  'expiration',
  'errors',
  'warnings',
] as const;

const veleroSnapshots = "Cairn does not take over the counts of a Velero backup's volume snapshots";

/** Velero status fields about work Cairn does not do: why each is dropped (when not 0). */
const droppedStatusFields: Record<string, string> = {
  volumeSnapshotsAttempted: veleroSnapshots,
  volumeSnapshotsCompleted: veleroSnapshots,
  csiVolumeSnapshotsAttempted: veleroSnapshots,
  csiVolumeSnapshotsCompleted: veleroSnapshots,
  backupItemOperationsAttempted: 'Cairn runs no plugin item operations (such as moving snapshot data)',
  backupItemOperationsCompleted: 'Cairn runs no plugin item operations (such as moving snapshot data)',
  backupItemOperationsFailed: 'Cairn runs no plugin item operations (such as moving snapshot data)',
};

/**
 * A Velero Backup as Cairn's: the spec converted as a Schedule's template is, the status kept (phase,
 * timestamps, progress, errors, warnings, expiration). Velero's phases between the backup and its end
 * (WaitingForPluginOperations, Finalizing, ...) become PartiallyFailed: the backup's files are there,
 * not everything Velero meant to do is. A backup that has not ended (New, Queued, InProgress) or is
 * being deleted is not imported. The Backup is marked as one the server must not run (it records a
 * stored backup, as the catalog sync's do).
 */
export function fromVeleroBackup(
  input: VeleroObject,
  options: VeleroImportOptions,
): VeleroConversion<Backup> {
  const found = new Findings();
  const metadata = metadataOf(input, 'Backup', options, found);
  if (!isUnset(input.spec) && !isRecord(input.spec)) found.problem('spec', input.spec, 'must be an object');
  const spec = backupSpecOf(isRecord(input.spec) ? input.spec : {}, 'spec', found);
  found.check(specProblems('Backup', spec), 'spec');

  const velero = isRecord(input.status) ? input.status : {};
  const status: Record<string, unknown> = {};
  const phase = isUnset(velero.phase) ? '' : shown(velero.phase);
  if (unfinishedPhases.has(phase))
    found.problem(
      'status.phase',
      phase || 'New',
      'the backup has not finished in Velero: import it again once it has',
    );
  else if (phase === 'Deleting') found.problem('status.phase', phase, 'Velero is deleting the backup');
  else if (endedPhases[phase]) status.phase = endedPhases[phase];
  else {
    status.phase = 'PartiallyFailed';
    found.warn(
      'status.phase',
      `${phase} is not a phase of Cairn's: imported as PartiallyFailed (the backup's files are stored, ` +
        'but Velero had not finished with it)',
    );
  }
  for (const field of keptStatusFields) if (!isEmpty(velero[field])) status[field] = velero[field];
  if (isRecord(velero.progress)) {
    const progress: Record<string, unknown> = {};
    for (const field of ['totalItems', 'itemsBackedUp'])
      if (!isUnset(velero.progress[field])) progress[field] = velero.progress[field];
    if (Object.keys(progress).length > 0) status.progress = progress;
  }
  // Velero's hook counts, both kept (Velero leaves a 0 out).
  if (isRecord(velero.hookStatus)) {
    const { hooksAttempted, hooksFailed } = velero.hookStatus;
    if (!isUnset(hooksAttempted) || !isUnset(hooksFailed))
      status.hookStatus = { hooksAttempted: hooksAttempted ?? 0, hooksFailed: hooksFailed ?? 0 };
  }
  for (const [field, value] of Object.entries(velero)) {
    if (['phase', 'progress', 'queuePosition', 'hookStatus'].includes(field) || field in status) continue;
    if (isEmpty(value) || value === 0) continue;
    // The documented example spells the operation counts asyncBackupItemOperations...
    const reason = droppedStatusFields[field.replace(/^async(.)/, (_, c: string) => c.toLowerCase())];
    found.warn(`status.${field}`, `${dropped(value)}: ${reason ?? 'Cairn does not record it'}`);
  }
  found.check(statusProblems('Backup', status), 'status');

  metadata.annotations[SYNCED_FROM_ANNOTATION] = spec.storageLocation ?? '';
  return found.result<Backup>({
    apiVersion: CAIRN_API_VERSION,
    kind: 'Backup',
    metadata,
    spec,
    status: status,
  });
}

/** Converts any of the three kinds, by its `kind`. */
export function fromVelero(
  input: VeleroObject,
  options: VeleroImportOptions,
): VeleroConversion<Schedule | BackupLocation | Backup> {
  switch (input.kind) {
    case 'Schedule':
      return fromVeleroSchedule(input, options);
    case 'BackupStorageLocation':
      return fromVeleroBackupStorageLocation(input, options);
    case 'Backup':
      return fromVeleroBackup(input, options);
    default:
      return {
        problems: [
          {
            field: 'kind',
            value: isUnset(input.kind) ? '' : shown(input.kind),
            message: 'must be Schedule, BackupStorageLocation or Backup',
          },
        ],
      };
  }
}
