// The schedules page's form (new schedule, edit a schedule) turned into the request it sends: POST with the
// fields filled in, PUT with only the fields changed (a cleared one as null). Pure (no DOM), so Node's tests
// import it. The server checks every field (cron, duration, names) and its answer is shown as it is; this
// only catches what is plainly missing.
import type { Schedule, ScheduleRequest } from '../api/index.ts';
import { parseNamespaceList } from './restore-form.ts';

/** The form's values as typed: namespace lists as one text each, empty text for a field left unset. */
export interface ScheduleForm {
  name: string;
  /** The cron expression. */
  schedule: string;
  paused: boolean;
  /** Namespaces separated by commas or spaces. */
  includedNamespaces: string;
  excludedNamespaces: string;
  labelSelector: string;
  /** A Go duration ("720h"). */
  ttl: string;
  /** A BackupLocation's name; empty for the default location. */
  storageLocation: string;
}

export const EMPTY_SCHEDULE_FORM: Readonly<ScheduleForm> = {
  name: '',
  schedule: '',
  paused: false,
  includedNamespaces: '',
  excludedNamespaces: '',
  labelSelector: '',
  ttl: '',
  storageLocation: '',
};

/** The form of an existing schedule, prefilled from its spec (what the edit starts from). */
export function scheduleFormOf(schedule: Schedule): ScheduleForm {
  const { spec } = schedule;
  const template = spec.template;
  return {
    name: schedule.metadata.name,
    schedule: spec.schedule,
    paused: spec.paused ?? false,
    includedNamespaces: (template.includedNamespaces ?? []).join(', '),
    excludedNamespaces: (template.excludedNamespaces ?? []).join(', '),
    labelSelector: template.labelSelector ?? '',
    ttl: template.ttl ?? '',
    storageLocation: template.storageLocation ?? '',
  };
}

type Result = { request: ScheduleRequest } | { problems: string[] };

const TEXT_FIELDS = ['labelSelector', 'ttl', 'storageLocation'] as const;
const LIST_FIELDS = ['includedNamespaces', 'excludedNamespaces'] as const;

/** What a person can see is missing before asking the server. */
function problemsOf(form: ScheduleForm, creating: boolean): string[] {
  const problems: string[] = [];
  if (creating && form.name.trim() === '') problems.push('give the schedule a name');
  if (form.schedule.trim() === '') problems.push('give a cron schedule (for example 0 3 * * * or @daily)');
  return problems;
}

/** POST /ui/api/schedules: the fields filled in; an empty one is left out (the server's default). */
export function newScheduleRequest(form: ScheduleForm): Result {
  const problems = problemsOf(form, true);
  if (problems.length > 0) return { problems };
  const request: ScheduleRequest = { name: form.name.trim(), schedule: form.schedule.trim() };
  if (form.paused) request.paused = true;
  for (const field of LIST_FIELDS) {
    const list = parseNamespaceList(form[field]);
    if (list.length > 0) request[field] = list;
  }
  for (const field of TEXT_FIELDS) {
    const text = form[field].trim();
    if (text !== '') request[field] = text;
  }
  return { request };
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * PUT /ui/api/schedules/<name>: only what differs from `before` (the form as it was prefilled), a field
 * emptied as null. Retyping a list with other separators is no change. An empty request means nothing changed.
 */
export function editScheduleRequest(before: ScheduleForm, form: ScheduleForm): Result {
  const problems = problemsOf(form, false);
  if (problems.length > 0) return { problems };
  const request: ScheduleRequest = {};
  const schedule = form.schedule.trim();
  if (schedule !== before.schedule.trim()) request.schedule = schedule;
  if (form.paused !== before.paused) request.paused = form.paused;
  for (const field of LIST_FIELDS) {
    const list = parseNamespaceList(form[field]);
    if (sameList(list, parseNamespaceList(before[field]))) continue;
    request[field] = list.length > 0 ? list : null;
  }
  for (const field of TEXT_FIELDS) {
    const text = form[field].trim();
    if (text === before[field].trim()) continue;
    request[field] = text !== '' ? text : null;
  }
  return { request };
}

/** Each field's label, as the form shows it and the page names what an edit changed. */
export const FIELD_LABELS: Readonly<Record<Exclude<keyof ScheduleForm, 'name'>, string>> = {
  schedule: 'Cron schedule',
  paused: 'Paused',
  includedNamespaces: 'Namespaces to include',
  excludedNamespaces: 'Namespaces to exclude',
  labelSelector: 'Label selector',
  ttl: 'Keep each backup for (TTL)',
  storageLocation: 'Storage location',
};

/** The labels of the fields a request changes, lower-cased for a sentence: "cron schedule, paused". */
export function changedFields(request: ScheduleRequest): string[] {
  return (Object.keys(FIELD_LABELS) as (keyof typeof FIELD_LABELS)[])
    .filter((field) => request[field] !== undefined)
    .map((field) => FIELD_LABELS[field].replace(/^\w/, (c) => c.toLowerCase()));
}
