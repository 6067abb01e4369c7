// The backup catalog across the configured locations: opening them, finding a backup's copies, and the
// errors the catalog commands report. Used by backup-read.ts and backup-describe.ts.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Backup } from '../../api/index.ts';
import type { BackupClaim, BackupEntry, BackupStore } from '../../storage/index.ts';
import type { CliIO } from '../io.ts';

type SetExitCode = (code: number) => void;

// ---------------------------------------------------------------------------------------------------
// Errors

/** The named backups are in none of the locations searched. */
export class BackupNotInCatalogError extends Error {
  override readonly name = 'BackupNotInCatalogError';
  readonly backups: string[];
  readonly locations: string[];
  constructor(backups: string[], locations: string[]) {
    const names = backups.map((b) => `"${b}"`).join(', ');
    super(
      `${backups.length === 1 ? `backup ${names} was` : `backups ${names} were`} not found in any location ` +
        `(searched: ${locations.join(', ') || 'none'})`,
    );
    this.backups = backups;
    this.locations = locations;
  }
}

/** None of the locations to search could be read. */
export class LocationsUnreadableError extends Error {
  override readonly name = 'LocationsUnreadableError';
  readonly locations: string[];
  constructor(locations: string[]) {
    super(`no location could be read (${locations.map((l) => `"${l}"`).join(', ')}): see the warnings above`);
    this.locations = locations;
  }
}

/** The error for names found nowhere: not found, or nothing could be searched. */
export function notFound(names: string[], catalog: Catalog): Error {
  const readable = catalog.searched.filter((l) => !catalog.unavailable.some((u) => u.location === l));
  return readable.length === 0
    ? new LocationsUnreadableError(catalog.searched)
    : new BackupNotInCatalogError(names, readable);
}

/** A backup name that cannot name a backup directory. */
export class InvalidBackupNameError extends Error {
  override readonly name = 'InvalidBackupNameError';
  readonly backup: string;
  constructor(backup: string) {
    super(`backup name "${backup}" is not valid: it must be non-empty and may not contain "/"`);
    this.backup = backup;
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
  readonly path: string;
  constructor(path: string) {
    super(`the file ${path} already exists; pass --force to overwrite it, or -o to choose another file`);
    this.path = path;
  }
}

// ---------------------------------------------------------------------------------------------------
// Confirmation on a terminal (shared with `location delete`)

export interface StdinLike {
  isTTY?: boolean;
}

/** The terminal's input: CliIO carries none yet, so the process's stdin. */
export function stdinOf(io: CliIO): Readable & StdinLike {
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

export interface Copy {
  location: string;
  store: BackupStore;
  entry: BackupEntry;
}

export interface Catalog {
  /** The locations searched, in config order. */
  searched: string[];
  /** Configured locations that could not be opened or read, with the reason. */
  unavailable: { location: string; message: string }[];
  stores: BackupStore[];
}

export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Opens every configured location, or only `only`; a location that fails to open is reported, not fatal. */
export async function openCatalog(io: CliIO, only: string | undefined): Promise<Catalog> {
  const { findLocation, openLocation, withDefaultLocation } = await import('../config.ts');
  const config = withDefaultLocation(io.env);
  const locations = only === undefined ? config.locations : [findLocation(config, only)];
  const catalog: Catalog = { searched: [], unavailable: [], stores: [] };
  for (const location of locations) {
    catalog.searched.push(location.name);
    try {
      catalog.stores.push(await openLocation(io.env, location));
    } catch (error) {
      // With --storage-location the user asked for this one location: its problem is the answer.
      if (only !== undefined) throw error;
      catalog.unavailable.push({ location: location.name, message: messageOf(error) });
    }
  }
  return catalog;
}

/** Tells about the locations that could not be read; with any, the command exits 1. */
export function reportUnavailable(io: CliIO, catalog: Catalog, setExitCode: SetExitCode): void {
  for (const { location, message } of catalog.unavailable)
    io.stderr.write(`warning: location "${location}" could not be read: ${message}\n`);
  if (catalog.unavailable.length > 0) setExitCode(1);
}

export function checkName(name: string): void {
  if (name === '' || name.includes('/') || name === '.' || name === '..')
    throw new InvalidBackupNameError(name);
}

/** One location's entry for one backup name: committed, incomplete (claim or stray files), or absent. */
export function entryOf(store: BackupStore, name: string): Promise<BackupEntry | undefined> {
  return store.getEntry(name, { verification: true });
}

/** The copies of `name` in the catalog's locations, in config order. Unreadable locations are recorded. */
export async function copiesOf(catalog: Catalog, name: string): Promise<Copy[]> {
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

export function noteUnavailable(catalog: Catalog, location: string, error: unknown): void {
  if (!catalog.unavailable.some((u) => u.location === location))
    catalog.unavailable.push({ location, message: messageOf(error) });
}

/** Every backup of every location, grouped by name, sorted by name. */
export async function listCatalog(catalog: Catalog): Promise<Map<string, Copy[]>> {
  const perLocation = await Promise.all(
    catalog.stores.map(async (store) => {
      const copies: Copy[] = [];
      try {
        for await (const entry of store.listBackups({ verification: true }))
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
export function primaryOf(copies: Copy[]): Copy | undefined {
  return copies.find((c) => c.entry.complete) ?? copies[0];
}

export type CommittedCopy = Copy & { entry: { complete: true; backup: Backup } };
export const isCommitted = (copy: Copy): copy is CommittedCopy => copy.entry.complete;

/**
 * How a backup with no velero-backup.json shows: `InProgress` (its writer is alive), `Failed (orphaned)`
 * (its writer stopped refreshing the claim's heartbeat) or `Incomplete` (no claim, or an old one), by the
 * engine's rule (claimState).
 */
export async function unfinishedPhase(
  claim: BackupClaim | undefined,
  now: Date,
): Promise<'InProgress' | 'Incomplete' | 'Failed (orphaned)'> {
  const { claimState } = await import('../../backup/index.ts');
  const state = claimState(claim, now);
  return state === 'Orphaned' ? 'Failed (orphaned)' : state;
}

/** Who writes (or wrote) an unfinished backup, as describe, get and delete name it: "cairn v0.1.0, host laptop, pid 4242". */
export function writerOf(claim: BackupClaim | undefined): string {
  return [claim?.client ?? '<unknown>', claim?.host && `host ${claim.host}`, claim?.pid && `pid ${claim.pid}`]
    .filter(Boolean)
    .join(', ');
}

/** Why an orphaned backup failed: who wrote it, and when it was last seen alive. */
export function orphanReason(claim: BackupClaim | undefined): string {
  return `orphaned: its writer (${writerOf(claim)}) stopped, no heartbeat since ${claim?.heartbeatAt ?? '<unknown>'}`;
}

/** The locations whose copy failed its last verification (`backup verify --quick`). */
export function corruptIn(copies: Copy[]): string[] {
  return copies
    .filter((c) => c.entry.complete && c.entry.verification?.outcome === 'Failed')
    .map((c) => c.location);
}

/** The Backup object a catalog entry shows: the stored one, or one made up for an incomplete backup. */
export async function backupOf(copies: Copy[], now: Date): Promise<Record<string, unknown>> {
  const primary = primaryOf(copies);
  const locations = copies.map((c) => c.location).join(',');
  if (primary && isCommitted(primary)) {
    const backup = primary.entry.backup;
    const corrupt = corruptIn(copies);
    return {
      ...backup,
      metadata: {
        ...backup.metadata,
        annotations: {
          ...backup.metadata.annotations,
          'cairn.dev/found-in-locations': locations,
          ...(corrupt.length > 0 ? { 'cairn.dev/corrupt-in-locations': corrupt.join(',') } : {}),
        },
      },
    };
  }
  const claim = primary && !primary.entry.complete ? primary.entry.claim : undefined;
  const phase = await unfinishedPhase(claim, now);
  return {
    apiVersion: 'velero.io/v1',
    kind: 'Backup',
    metadata: {
      name: primary?.entry.name ?? '',
      ...(claim ? { creationTimestamp: claim.startedAt } : {}),
      annotations: { 'cairn.dev/found-in-locations': locations },
    },
    spec: { storageLocation: primary?.location ?? '' },
    // InProgress and Incomplete are not Velero phases: the backup has a claim but no velero-backup.json
    // (docs/design/backup-store.md); an orphaned one is Failed, with the reason.
    status: {
      ...(phase === 'Failed (orphaned)'
        ? { phase: 'Failed', failureReason: orphanReason(claim) }
        : { phase }),
      ...(claim ? { startTimestamp: claim.startedAt } : {}),
    },
  };
}
