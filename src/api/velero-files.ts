// The files Cairn stores in Velero's layout, in Velero's shapes (docs/formats/velero-files.md):
// velero-backup.json is Velero's velero.io/v1 Backup, whose labelSelector and orLabelSelectors are
// metav1.LabelSelector objects (Velero's Go decoder refuses a string there); <name>-results.gz is
// {"errors": Result, "warnings": Result} with Velero's Result keys (velero, cluster, namespaces); the log is
// JSON lines as logrus writes them (time, level, msg, then fields).
//
// A Backup in memory (and the cairn.dev Backup resource) holds selectors as text. Writing turns them into
// objects; reading takes both, since backups of earlier Cairn versions stored the text.
import type { Backup, ResultGroup } from './backup.ts';
import {
  labelSelectorAsText,
  labelSelectorToObject,
  parseLabelSelector,
  type LabelSelectorObject,
} from './labels.ts';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A stored selector: Velero's object, or the text earlier Cairn versions wrote. */
type StoredSelector = string | LabelSelectorObject;

/**
 * velero-backup.json's content for a Backup. The selectors must have an object form (backup validation
 * refuses `>` and `<`): a LabelSelectorError otherwise.
 */
export function toStoredBackup(backup: Backup): Record<string, unknown> {
  const { labelSelector, orLabelSelectors, ...spec } = backup.spec;
  const selector =
    labelSelector === undefined ? undefined : labelSelectorToObject(parseLabelSelector(labelSelector));
  const orSelectors = orLabelSelectors?.map((text) => labelSelectorToObject(parseLabelSelector(text)) ?? {});
  return {
    ...backup,
    spec: {
      ...spec,
      ...(selector ? { labelSelector: selector } : {}),
      ...(orSelectors && orSelectors.length > 0 ? { orLabelSelectors: orSelectors } : {}),
    },
  };
}

/**
 * The Backup of a velero-backup.json, written by Velero or by any Cairn version: selectors become text
 * (`app=shop,tier in (a,b)`); everything else is kept as stored.
 */
export function fromStoredBackup(stored: unknown): Backup {
  const backup = stored as Backup;
  const spec = isRecord(backup.spec) ? (backup.spec as Record<string, unknown>) : undefined;
  if (!spec) return backup;
  const out: Record<string, unknown> = { ...spec };
  const selector = spec['labelSelector'] as StoredSelector | null | undefined;
  if (selector === null || selector === undefined) delete out['labelSelector'];
  else out['labelSelector'] = labelSelectorAsText(selector);
  const orSelectors = spec['orLabelSelectors'] as (StoredSelector | null)[] | null | undefined;
  if (!Array.isArray(orSelectors) || orSelectors.length === 0) delete out['orLabelSelectors'];
  else out['orLabelSelectors'] = orSelectors.map((s) => labelSelectorAsText(s ?? {}));
  return { ...backup, spec: out };
}

/** A results file, Velero's or Cairn's: the messages of the tool itself are Velero's `velero` key. */
export interface StoredResults {
  errors: ResultGroup;
  warnings: ResultGroup;
}

/** The results of a stored results file (Velero's, or earlier Cairn's with a `cairn` key). */
export function fromStoredResults(stored: unknown): StoredResults {
  const group = (value: unknown): ResultGroup => {
    if (!isRecord(value)) return {};
    const own = [value['velero'], value['cairn']].flatMap((v) =>
      Array.isArray(v) ? v.filter((m): m is string => typeof m === 'string') : [],
    );
    const out: ResultGroup = {};
    if (own.length > 0) out.cairn = own;
    if (Array.isArray(value['cluster'])) out.cluster = value['cluster'] as string[];
    if (isRecord(value['namespaces'])) out.namespaces = value['namespaces'] as Record<string, string[]>;
    return out;
  };
  return isRecord(stored)
    ? { errors: group(stored['errors']), warnings: group(stored['warnings']) }
    : { errors: {}, warnings: {} };
}

/** One line of a stored log, as logrus's JSON formatter writes it: time, level, msg, then the fields. */
export function storedLogLine<Entry extends { level: string; message: string }>(
  time: string,
  entry: Entry,
): string {
  const { level, message, ...fields } = entry;
  return JSON.stringify({ time, level, msg: message, ...fields });
}

/** A stored log line's message: logrus's `msg`, or the `message` of earlier Cairn versions. */
export function logLineMessage(line: object): string {
  const { msg, message } = line as { msg?: unknown; message?: unknown };
  const value = msg ?? message ?? '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
