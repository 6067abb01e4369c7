// The commands that read the backup catalog: get, describe, logs, download, delete. Standalone mode reads
// every configured location (or the one named by --storage-location); a backup stored in several
// locations is one backup with several copies. Heavy modules (config.ts loads the storage drivers) are
// imported inside the actions, so `--help` stays fast.
import { Command, Option } from 'commander';
import { createWriteStream, existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import type { Backup, BackupStatus, ResultGroup } from '../../api/index.ts';
import type { BackupClaim, BackupEntry, BackupStore } from '../../storage/index.ts';
import type { CliIO } from '../io.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatFields, formatTable } from '../table.ts';

type SetExitCode = (code: number) => void;

/** How long a backup with a claim and no velero-backup.json is taken to be still running. */
const INCOMPLETE_GRACE_MS = 60 * 60 * 1000;

// ---------------------------------------------------------------------------------------------------
// Errors

/** The named backups are in none of the locations searched. */
export class BackupNotInCatalogError extends Error {
  override readonly name = 'BackupNotInCatalogError';
  constructor(
    readonly backups: string[],
    readonly locations: string[],
  ) {
    const names = backups.map((b) => `"${b}"`).join(', ');
    super(
      `${backups.length === 1 ? `backup ${names} was` : `backups ${names} were`} not found in any location ` +
        `(searched: ${locations.join(', ') || 'none'})`,
    );
  }
}

/** None of the locations to search could be read. */
export class LocationsUnreadableError extends Error {
  override readonly name = 'LocationsUnreadableError';
  constructor(readonly locations: string[]) {
    super(`no location could be read (${locations.map((l) => `"${l}"`).join(', ')}): see the warnings above`);
  }
}

/** The error for names found nowhere: not found, or nothing could be searched. */
function notFound(names: string[], catalog: Catalog): Error {
  const readable = catalog.searched.filter((l) => !catalog.unavailable.some((u) => u.location === l));
  return readable.length === 0
    ? new LocationsUnreadableError(catalog.searched)
    : new BackupNotInCatalogError(names, readable);
}

/** A backup name that cannot name a backup directory. */
export class InvalidBackupNameError extends Error {
  override readonly name = 'InvalidBackupNameError';
  constructor(readonly backup: string) {
    super(`backup name "${backup}" is not valid: it must be non-empty and may not contain "/"`);
  }
}

/** A deletion that needs confirmation and cannot ask for it. */
export class ConfirmationRequiredError extends Error {
  override readonly name = 'ConfirmationRequiredError';
  constructor(what: string) {
    super(`refusing to delete ${what} without confirmation: stdin is not a terminal; pass --confirm`);
  }
}

/** `download` would overwrite a file. */
export class OutputFileExistsError extends Error {
  override readonly name = 'OutputFileExistsError';
  constructor(readonly path: string) {
    super(`the file ${path} already exists; pass --force to overwrite it, or -o to choose another file`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Confirmation on a terminal (shared with `location delete`)

interface StdinLike {
  isTTY?: boolean;
}

/** The terminal's input: CliIO carries none yet, so the process's stdin. */
function stdinOf(io: CliIO): Readable & StdinLike {
  return (io as CliIO & { stdin?: Readable & StdinLike }).stdin ?? process.stdin;
}

/**
 * Asks `question (y/N)` on a terminal and resolves whether the answer was yes. Without a terminal it
 * throws ConfirmationRequiredError naming `what`; `--confirm` skips the question.
 */
export async function confirmDeletion(
  io: CliIO,
  options: { confirmed: boolean; question: string; what: string },
): Promise<boolean> {
  if (options.confirmed) return true;
  const stdin = stdinOf(io);
  if (!stdin.isTTY) throw new ConfirmationRequiredError(options.what);
  io.stderr.write(`${options.question} (y/N) `);
  const lines = createInterface({ input: stdin, terminal: false });
  let answer = '';
  for await (const line of lines) {
    answer = line;
    break;
  }
  lines.close();
  return /^\s*y(es)?\s*$/i.test(answer);
}

// ---------------------------------------------------------------------------------------------------
// The catalog: every location's copies of each backup

interface Copy {
  location: string;
  store: BackupStore;
  entry: BackupEntry;
}

interface Catalog {
  /** The locations searched, in config order. */
  searched: string[];
  /** Configured locations that could not be opened or read, with the reason. */
  unavailable: { location: string; message: string }[];
  stores: BackupStore[];
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Opens every configured location, or only `only`; a location that fails to open is reported, not fatal. */
async function openCatalog(io: CliIO, only: string | undefined): Promise<Catalog> {
  const { findLocation, openLocation, withDefaultLocation } = await import('../config.ts');
  const config = withDefaultLocation(io.env);
  const locations = only === undefined ? config.locations : [findLocation(config, only)];
  const catalog: Catalog = { searched: [], unavailable: [], stores: [] };
  for (const location of locations) {
    catalog.searched.push(location.name);
    try {
      catalog.stores.push(await openLocation(io.env, location, { createKey: false }));
    } catch (error) {
      // With --storage-location the user asked for this one location: its problem is the answer.
      if (only !== undefined) throw error;
      catalog.unavailable.push({ location: location.name, message: messageOf(error) });
    }
  }
  return catalog;
}

/** Tells about the locations that could not be read; with any, the command exits 1. */
function reportUnavailable(io: CliIO, catalog: Catalog, setExitCode: SetExitCode): void {
  for (const { location, message } of catalog.unavailable)
    io.stderr.write(`warning: location "${location}" could not be read: ${message}\n`);
  if (catalog.unavailable.length > 0) setExitCode(1);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function checkName(name: string): void {
  if (name === '' || name.includes('/') || name === '.' || name === '..')
    throw new InvalidBackupNameError(name);
}

/** One location's entry for one backup name: committed, incomplete (claim or stray files), or absent. */
async function entryOf(store: BackupStore, name: string): Promise<BackupEntry | undefined> {
  const { ObjectNotFoundError, backupKeys } = await import('../../storage/index.ts');
  const backup = await store.getBackup(name);
  if (backup) return { name, complete: true, backup };
  const keys = backupKeys(name);
  try {
    const claim = JSON.parse(
      (await readAll(await store.store.get(keys.claim))).toString('utf8'),
    ) as BackupClaim;
    return { name, complete: false, claim };
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError) && !(error instanceof SyntaxError)) throw error;
  }
  for await (const entry of store.store.list(keys.dir))
    if (entry.type === 'object') return { name, complete: false };
  return undefined;
}

/** The copies of `name` in the catalog's locations, in config order. Unreadable locations are recorded. */
async function copiesOf(catalog: Catalog, name: string): Promise<Copy[]> {
  const found = await Promise.all(
    catalog.stores.map(async (store) => {
      try {
        const entry = await entryOf(store, name);
        return entry ? { location: store.location, store, entry } : undefined;
      } catch (error) {
        noteUnavailable(catalog, store.location, error);
        return undefined;
      }
    }),
  );
  return found.filter((c) => c !== undefined);
}

function noteUnavailable(catalog: Catalog, location: string, error: unknown): void {
  if (!catalog.unavailable.some((u) => u.location === location))
    catalog.unavailable.push({ location, message: messageOf(error) });
}

/** Every backup of every location, grouped by name, sorted by name. */
async function listCatalog(catalog: Catalog): Promise<Map<string, Copy[]>> {
  const perLocation = await Promise.all(
    catalog.stores.map(async (store) => {
      const copies: Copy[] = [];
      try {
        for await (const entry of store.listBackups())
          copies.push({ location: store.location, store, entry });
      } catch (error) {
        noteUnavailable(catalog, store.location, error);
      }
      return copies;
    }),
  );
  const byName = new Map<string, Copy[]>();
  for (const copy of perLocation.flat()) {
    const copies = byName.get(copy.entry.name);
    if (copies) copies.push(copy);
    else byName.set(copy.entry.name, [copy]);
  }
  return new Map([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The copy that speaks for the backup: the first committed one, else the first. */
function primaryOf(copies: Copy[]): Copy | undefined {
  return copies.find((c) => c.entry.complete) ?? copies[0];
}

type CommittedCopy = Copy & { entry: { complete: true; backup: Backup } };
const isCommitted = (copy: Copy): copy is CommittedCopy => copy.entry.complete;

/** Incomplete (claim older than the grace period, or no claim) or InProgress (a recent claim). */
function incompletePhase(claim: BackupClaim | undefined, now: Date): 'Incomplete' | 'InProgress' {
  const started = claim ? Date.parse(claim.startedAt) : NaN;
  return Number.isFinite(started) && now.getTime() - started < INCOMPLETE_GRACE_MS
    ? 'InProgress'
    : 'Incomplete';
}

/** The Backup object a catalog entry shows: the stored one, or one made up for an incomplete backup. */
function backupOf(copies: Copy[], now: Date): Record<string, unknown> {
  const primary = primaryOf(copies);
  const locations = copies.map((c) => c.location).join(',');
  if (primary && isCommitted(primary)) {
    const backup = primary.entry.backup;
    return {
      ...backup,
      metadata: {
        ...backup.metadata,
        annotations: { ...backup.metadata.annotations, 'cairn.dev/found-in-locations': locations },
      },
    };
  }
  const claim = primary && !primary.entry.complete ? primary.entry.claim : undefined;
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: {
      name: primary?.entry.name ?? '',
      ...(claim ? { creationTimestamp: claim.startedAt } : {}),
      annotations: { 'cairn.dev/found-in-locations': locations },
    },
    spec: { storageLocation: primary?.location ?? '' },
    // Not a Velero phase: the backup has a claim but no velero-backup.json (docs/design/backup-store.md).
    status: { phase: incompletePhase(claim, now), ...(claim ? { startTimestamp: claim.startedAt } : {}) },
  };
}

// ---------------------------------------------------------------------------------------------------
// Formatting

/** A time as Go prints a metav1.Time, in UTC: `2026-11-25 01:39:00 +0000 UTC`. */
export function goTime(iso: string | undefined): string {
  if (!iso) return '<n/a>';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** Kubernetes' ShortHumanDuration: 45s, 12m, 5h, 29d, 2y. */
export function shortDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.floor(hours / 24)}d`;
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** Velero's EXPIRES column: the time left, or "expired". */
export function expiresIn(expiration: string | undefined, now: Date): string {
  const at = expiration ? Date.parse(expiration) : NaN;
  if (!Number.isFinite(at)) return 'n/a';
  return at <= now.getTime() ? 'expired' : shortDuration(at - now.getTime());
}

/** Velero's STATUS column: the phase, with the error count of a partial failure. */
function statusText(status: BackupStatus | undefined): string {
  const phase = status?.phase ?? 'New';
  if (phase !== 'PartiallyFailed') return phase;
  const errors = status?.errors ?? 0;
  return `${phase} (${errors} error${errors === 1 ? '' : 's'})`;
}

function selectorText(backup: Backup): string {
  if (backup.spec.labelSelector) return backup.spec.labelSelector;
  if (backup.spec.orLabelSelectors?.length) return backup.spec.orLabelSelectors.join(' or ');
  return '<none>';
}

function rowOf(copies: Copy[], now: Date): string[] {
  const primary = primaryOf(copies);
  const locations = copies.map((c) => c.location).join(',');
  if (!primary) return [];
  if (!isCommitted(primary)) {
    const claim = primary.entry.complete ? undefined : primary.entry.claim;
    return [
      primary.entry.name,
      incompletePhase(claim, now),
      '0',
      '0',
      goTime(claim?.startedAt),
      'n/a',
      locations,
      '<none>',
    ];
  }
  const backup = primary.entry.backup;
  const status = backup.status;
  return [
    backup.metadata.name,
    statusText(status),
    String(status?.errors ?? 0),
    String(status?.warnings ?? 0),
    goTime(status?.startTimestamp ?? backup.metadata.creationTimestamp),
    expiresIn(status?.expiration, now),
    locations,
    selectorText(backup),
  ];
}

const BACKUP_COLUMNS = [
  'NAME',
  'STATUS',
  'ERRORS',
  'WARNINGS',
  'CREATED',
  'EXPIRES',
  'STORAGE LOCATION',
  'SELECTOR',
];

const list = (values: readonly string[] | undefined, empty = '<none>') =>
  values && values.length > 0 ? values.join(', ') : empty;

function resultLines(label: string, count: number, group: ResultGroup | undefined): string {
  let out = `${`${label}:`.padEnd(10)} ${count}\n`;
  if (!group) return out;
  if (group.cairn?.length) out += `  Cairn:\n${group.cairn.map((m) => `    ${m}\n`).join('')}`;
  if (group.cluster?.length) out += `  Cluster:\n${group.cluster.map((m) => `    ${m}\n`).join('')}`;
  const namespaces = Object.entries(group.namespaces ?? {}).filter(([, messages]) => messages.length > 0);
  if (namespaces.length > 0) {
    out += '  Namespaces:\n';
    for (const [namespace, messages] of namespaces)
      out += `    ${namespace}:\n${messages.map((m) => `      ${m}\n`).join('')}`;
  }
  return out;
}

/** One location's line under "Storage locations:": the recorded result and what is there now. */
function locationLine(
  name: string,
  recorded: { phase: string; message?: string | undefined } | undefined,
  copy: Copy | undefined,
  catalog: Catalog,
): string {
  const parts: string[] = [];
  if (recorded) parts.push(recorded.phase + (recorded.message ? ` (${recorded.message})` : ''));
  const unavailable = catalog.unavailable.find((u) => u.location === name);
  if (unavailable) parts.push(`could not be read now: ${unavailable.message}`);
  else if (!catalog.searched.includes(name))
    parts.push('not searched (not configured here, or not selected)');
  else if (!copy) parts.push('not in the location now');
  else if (!copy.entry.complete) parts.push('incomplete copy (no velero-backup.json)');
  else if (!recorded) parts.push('present');
  return parts.join('; ');
}

function describeBackup(primary: CommittedCopy, copies: Copy[], catalog: Catalog, now: Date): string {
  const backup = primary.entry.backup;
  const { spec } = backup;
  const status = backup.status ?? {};
  const labels = Object.entries(backup.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const annotations = Object.entries(backup.metadata.annotations ?? {}).map(([k, v]) => `${k}=${v}`);
  let out = formatFields([
    ['Name', backup.metadata.name],
    ['UID', backup.metadata.uid ?? '<none>'],
    ['Labels', list(labels)],
    ['Annotations', list(annotations)],
  ]);
  out += `\nPhase:  ${status.phase ?? 'New'}\n`;
  if (status.failureReason) out += `Failure reason:  ${status.failureReason}\n`;
  if (status.validationErrors?.length)
    out += `Validation errors:\n${status.validationErrors.map((e) => `  ${e}\n`).join('')}`;

  const clusterScoped =
    spec.includeClusterResources === undefined
      ? 'auto'
      : spec.includeClusterResources
        ? 'included'
        : 'excluded';
  out += '\nNamespaces:\n';
  out += formatFields(
    [
      ['Included', list(spec.includedNamespaces, '*')],
      ['Excluded', list(spec.excludedNamespaces)],
    ],
    '  ',
  );
  out += '\nResources:\n';
  out += formatFields(
    [
      ['Included', list(spec.includedResources, '*')],
      ['Excluded', list(spec.excludedResources)],
      ['Cluster-scoped', clusterScoped],
    ],
    '  ',
  );
  out +=
    '\n' +
    formatFields([
      ['Label selector', spec.labelSelector ?? '<none>'],
      ['Or label selectors', list(spec.orLabelSelectors)],
      ['Secrets', spec.includeSecrets === false ? 'excluded' : 'included'],
    ]);

  const recorded = status.locations ?? [];
  const names = [...recorded.map((l) => l.name)];
  for (const copy of copies) if (!names.includes(copy.location)) names.push(copy.location);
  out += '\nStorage locations:\n';
  out += formatFields(
    names.map((name) => [
      name,
      locationLine(
        name,
        recorded.find((l) => l.name === name),
        copies.find((c) => c.location === name),
        catalog,
      ),
    ]),
    '  ',
  );

  out += '\nEncryption:\n';
  const committed = copies.filter(isCommitted);
  out += formatFields(
    committed.map((copy) => {
      const encryption = copy.entry.backup.status?.encryption;
      return [
        copy.location,
        encryption ? `${encryption.algorithm}, key id ${encryption.keyId}` : 'none (plaintext location)',
      ];
    }),
    '  ',
  );

  const consistency = status.consistency;
  out +=
    '\n' +
    formatFields([
      ['TTL', spec.ttl ?? '<none>'],
      [
        'Consistency',
        consistency
          ? consistency.mode + (consistency.revision ? `, at storage revision ${consistency.revision}` : '')
          : '<unknown>',
      ],
      ['Best-effort resources', list(consistency?.bestEffortResources)],
    ]);
  out +=
    '\n' +
    formatFields([
      ['Started', goTime(status.startTimestamp)],
      ['Completed', goTime(status.completionTimestamp)],
      ['Expiration', `${goTime(status.expiration)} (${expiresIn(status.expiration, now)})`],
    ]);
  out +=
    '\n' +
    formatFields([
      ['Total items to be backed up', String(status.progress?.totalItems ?? 0)],
      ['Items backed up', String(status.progress?.itemsBackedUp ?? 0)],
    ]);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The commands

interface LocationOption {
  storageLocation?: string;
}

const locationOption = () =>
  new Option('--storage-location <name>', 'read only this location (default: every configured location)');

/** The committed copy to read `name` from, in config order; errors when there is none. */
async function committedCopy(
  io: CliIO,
  name: string,
  options: LocationOption,
  setExitCode: SetExitCode,
): Promise<{ copy: CommittedCopy; copies: Copy[]; catalog: Catalog }> {
  checkName(name);
  const catalog = await openCatalog(io, options.storageLocation);
  const copies = await copiesOf(catalog, name);
  reportUnavailable(io, catalog, setExitCode);
  const copy = copies.find(isCommitted);
  if (copy) return { copy, copies, catalog };
  if (copies.length === 0) throw notFound([name], catalog);
  throw new BackupIncompleteError(
    name,
    copies.map((c) => c.location),
  );
}

/** The backup has files but no velero-backup.json: it is running or was interrupted. */
export class BackupIncompleteError extends Error {
  override readonly name = 'BackupIncompleteError';
  constructor(
    readonly backup: string,
    readonly locations: string[],
  ) {
    super(
      `backup "${backup}" is incomplete in ${locations.map((l) => `"${l}"`).join(', ')}: it has no ` +
        'velero-backup.json (it is still running, or was interrupted; `cairn backup delete` removes it)',
    );
  }
}

function getCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('get')
    .description('List backups, from every configured location (one row per backup)')
    .argument('[name...]', 'only these backups')
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn backup get
  cairn backup get shop nightly
  cairn backup get --storage-location minio -o json`,
    )
    .action(async (names: string[], options: LocationOption & { output: OutputFormat }) => {
      for (const name of names) checkName(name);
      const now = new Date();
      const catalog = await openCatalog(io, options.storageLocation);
      let rows: [string, Copy[]][];
      const missing: string[] = [];
      if (names.length > 0) {
        rows = [];
        for (const name of [...new Set(names)]) {
          const copies = await copiesOf(catalog, name);
          if (copies.length > 0) rows.push([name, copies]);
          else missing.push(name);
        }
      } else {
        rows = [...(await listCatalog(catalog))];
      }
      reportUnavailable(io, catalog, setExitCode);
      if (options.output !== 'table') {
        const items = rows.map(([, copies]) => backupOf(copies, now));
        io.stdout.write(formatStructured({ apiVersion: 'v1', kind: 'List', items }, options.output));
      } else if (rows.length > 0) {
        io.stdout.write(
          formatTable(
            BACKUP_COLUMNS,
            rows.map(([, copies]) => rowOf(copies, now)),
          ),
        );
      } else if (missing.length === 0) {
        const read = catalog.searched.filter((l) => !catalog.unavailable.some((u) => u.location === l));
        if (read.length > 0)
          io.stderr.write(`No backups found in ${read.map((l) => `"${l}"`).join(', ')}.\n`);
      }
      if (missing.length > 0) throw notFound(missing, catalog);
    });
}

function describeCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('describe')
    .description('Show a backup in detail: selection, locations, encryption, consistency, results')
    .argument('<name>', 'the backup')
    .option('--details', 'also list every item backed up, by resource')
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'print the Backup object as json or yaml').argParser(
        parseOutputFormat,
      ),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn backup describe shop
  cairn backup describe shop --details
  cairn backup describe shop --storage-location minio -o yaml`,
    )
    .action(async (name: string, options: LocationOption & { details?: boolean; output?: OutputFormat }) => {
      checkName(name);
      const now = new Date();
      const catalog = await openCatalog(io, options.storageLocation);
      const copies = await copiesOf(catalog, name);
      reportUnavailable(io, catalog, setExitCode);
      if (copies.length === 0) throw notFound([name], catalog);
      const primary = copies.find(isCommitted);
      if (options.output && options.output !== 'table') {
        io.stdout.write(
          formatStructured(primary ? primary.entry.backup : backupOf(copies, now), options.output),
        );
        return;
      }
      if (!primary) {
        const first = copies[0];
        const claim = first && !first.entry.complete ? first.entry.claim : undefined;
        io.stdout.write(
          formatFields([
            ['Name', name],
            ['Phase', incompletePhase(claim, now)],
            ['Started', goTime(claim?.startedAt)],
            ['Written by', claim?.client ?? '<unknown>'],
            ['Storage locations', copies.map((c) => c.location).join(', ')],
          ]) + '\nThe backup has no velero-backup.json: it is still running, or was interrupted.\n',
        );
        return;
      }
      io.stdout.write(describeBackup(primary, copies, catalog, now));
      const status = primary.entry.backup.status ?? {};
      const reading = `from location "${primary.location}"`;
      try {
        const results = await readJsonFile<{ errors?: ResultGroup; warnings?: ResultGroup }>(
          primary.store,
          name,
          'results',
        );
        io.stdout.write('\n' + resultLines('Errors', status.errors ?? 0, results.errors));
        io.stdout.write(resultLines('Warnings', status.warnings ?? 0, results.warnings));
      } catch (error) {
        io.stdout.write(`\nErrors:    ${status.errors ?? 0}\nWarnings:  ${status.warnings ?? 0}\n`);
        io.stderr.write(`error: cannot read the results ${reading}: ${messageOf(error)}\n`);
        setExitCode(1);
      }
      if (!options.details) return;
      try {
        const resources = await readJsonFile<Record<string, string[]>>(primary.store, name, 'resourceList');
        io.stdout.write('\nResource list:\n');
        const kinds = Object.keys(resources).sort();
        if (kinds.length === 0) io.stdout.write('  <none>\n');
        for (const kind of kinds)
          io.stdout.write(`  ${kind}:\n${(resources[kind] ?? []).map((item) => `    - ${item}\n`).join('')}`);
      } catch (error) {
        io.stderr.write(`error: cannot read the resource list ${reading}: ${messageOf(error)}\n`);
        setExitCode(1);
      }
    });
}

/** A gzipped JSON file of a backup, decrypted. */
async function readJsonFile<T>(
  store: BackupStore,
  name: string,
  file: 'results' | 'resourceList',
): Promise<T> {
  const bytes = await promisify(gunzip)(await readAll(await store.openFile(name, file)));
  return JSON.parse(bytes.toString('utf8')) as T;
}

/** One log line as a person reads it: `time level message key=value...`. */
function readableLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, message, ...rest } = entry;
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? ''));
  return [text(time), text(level).padEnd(7), text(message), ...extra].join(' ');
}

function logsCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('logs')
    .description("Print a backup's log")
    .argument('<name>', 'the backup')
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'json prints the stored JSON lines as they are')
        .choices(['text', 'json'])
        .default('text'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn backup logs shop
  cairn backup logs shop -o json | jq -r 'select(.level != "info") | .message'`,
    )
    .action(async (name: string, options: LocationOption & { output: 'text' | 'json' }) => {
      const { copy } = await committedCopy(io, name, options, setExitCode);
      const gunzip = createGunzip();
      const source = await copy.store.openFile(name, 'logs');
      source.on('error', (error) => gunzip.destroy(error));
      const lines = createInterface({ input: source.pipe(gunzip), crlfDelay: Infinity });
      for await (const line of lines) {
        if (line.trim() === '') continue;
        io.stdout.write((options.output === 'json' ? line : readableLogLine(line)) + '\n');
      }
    });
}

function downloadCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('download')
    .description("Write a backup's archive (Velero format, decrypted) to a file")
    .argument('<name>', 'the backup')
    .option('-o, --output <file>', 'the file to write (default: ./NAME-data.tar.gz)')
    .option('--force', 'overwrite the file if it exists')
    .addOption(locationOption())
    .addHelpText(
      'after',
      `
The archive holds every backed-up object, Secrets included, unencrypted: the file is created with
mode 0600. Keep it as safe as the cluster's secrets.

Examples:
  cairn backup download shop
  cairn backup download shop -o /tmp/shop.tar.gz --force
  cairn backup download shop --storage-location minio`,
    )
    .action(async (name: string, options: LocationOption & { output?: string; force?: boolean }) => {
      const target = options.output ?? `./${name}-data.tar.gz`;
      if (existsSync(target) && !options.force) throw new OutputFileExistsError(target);
      const { copy } = await committedCopy(io, name, options, setExitCode);
      // Into a temporary file first: a failed or interrupted download never looks like a whole archive.
      const partial = `${resolve(target)}.partial-${process.pid}`;
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline(
          await copy.store.openFile(name, 'archive'),
          count,
          createWriteStream(partial, { flags: 'wx', mode: 0o600 }),
        );
        if (existsSync(target) && !options.force) throw new OutputFileExistsError(target);
        await rename(partial, target);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
      io.stdout.write(
        `Backup "${name}" downloaded from location "${copy.location}" to ${target} (${bytes} bytes).\n`,
      );
    });
}

function deleteCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('delete')
    .description('Delete backups from every location that has them (or from one location)')
    .argument('<name...>', 'the backups')
    .option('--confirm', 'delete without asking')
    .addOption(
      new Option('--storage-location <name>', 'delete only from this location (default: every location)'),
    )
    .addHelpText(
      'after',
      `
Without --confirm, asks on the terminal; without a terminal (scripts, CI), --confirm is required.

Examples:
  cairn backup delete shop
  cairn backup delete shop nightly --confirm
  cairn backup delete shop --storage-location minio --confirm`,
    )
    .action(async (names: string[], options: LocationOption & { confirm?: boolean }) => {
      const { ReadOnlyStoreError } = await import('../../storage/index.ts');
      for (const name of names) checkName(name);
      const catalog = await openCatalog(io, options.storageLocation);
      const targets: { name: string; copies: Copy[] }[] = [];
      const missing: string[] = [];
      for (const name of [...new Set(names)]) {
        const copies = await copiesOf(catalog, name);
        if (copies.length > 0) targets.push({ name, copies });
        else missing.push(name);
      }
      reportUnavailable(io, catalog, setExitCode);
      if (targets.length === 0) throw notFound(missing, catalog);
      const what = `backup${targets.length === 1 ? '' : 's'} ${targets.map((t) => t.name).join(', ')}`;
      const where =
        options.storageLocation === undefined ? 'every location' : `location ${options.storageLocation}`;
      const yes = await confirmDeletion(io, {
        confirmed: options.confirm === true,
        question: `Are you sure you want to delete ${what} from ${where}?`,
        what,
      });
      if (!yes) {
        io.stderr.write('Nothing was deleted.\n');
        return;
      }
      for (const { name, copies } of targets) {
        for (const copy of copies) {
          try {
            const { deleted } = await copy.store.deleteBackup(name);
            io.stdout.write(
              `Deleted backup "${name}" from location "${copy.location}" (${deleted} files).\n`,
            );
          } catch (error) {
            const reason =
              error instanceof ReadOnlyStoreError
                ? `the location is read-only (${error.message})`
                : messageOf(error);
            io.stderr.write(
              `error: could not delete backup "${name}" from location "${copy.location}": ${reason}\n`,
            );
            setExitCode(1);
          }
        }
      }
      if (missing.length > 0) throw notFound(missing, catalog);
    });
}

export function addBackupReadCommands(backup: Command, io: CliIO, setExitCode: SetExitCode): void {
  backup
    .addCommand(getCommand(io, setExitCode))
    .addCommand(describeCommand(io, setExitCode))
    .addCommand(logsCommand(io, setExitCode))
    .addCommand(downloadCommand(io, setExitCode))
    .addCommand(deleteCommand(io, setExitCode));
}
