// Each BackupLocation, every interval: check that its store answers (phase Available or Unavailable with
// the reason, cairn_backup_location_status_gauge), keep one default, and sync its catalog into the cluster.
// Sync: every backup committed in the location (its velero-backup.json) that has no Backup resource gets
// one, with the spec, labels and status of its metadata — what lets a second cluster pointed at the same
// bucket see, and restore, the first cluster's backups. A Backup of this location whose metadata has
// vanished from the store, and stays gone for the grace period, is removed from the cluster.
import {
  BACKUP_PHASES,
  type Backup,
  type BackupLocation,
  type BackupPhase,
  type BackupStatus,
} from '../api/index.ts';
import { LOCATION_LABEL, SYNCED_ANNOTATION } from './backup-controller.ts';
import type { ControllerContext } from './context.ts';
import type { Informer } from './informer.ts';
import type { ProcessResult } from './queue.ts';
import { createResource, deleteResource, patchStatus } from './resources.ts';
import { parseGoDuration } from '../api/index.ts';
import { DEFAULT_REQUEST_TIMEOUT_MS, locationTimeouts } from '../storage/index.ts';
import { deadlineSignal } from './clock.ts';

const DEFAULT_INTERVAL_MS = 60_000;

/** A stored backup's phase as a Backup's status may hold it (Velero writes some Cairn does not know). */
function knownPhase(phase: string | undefined): BackupPhase {
  if (
    phase &&
    (BACKUP_PHASES as readonly string[]).includes(phase) &&
    phase !== 'New' &&
    phase !== 'InProgress'
  )
    return phase as BackupPhase;
  // Velero's Finalizing, WaitingForPluginOperations...: the backup was committed mid-way; treat it as
  // incomplete rather than pretend it finished.
  return phase === 'Completed' ? 'Completed' : 'PartiallyFailed';
}

export class CatalogController {
  readonly #ctx: ControllerContext;
  readonly #locations: Informer<BackupLocation>;
  readonly #backups: Informer<Backup>;
  readonly #graceMs: number;
  readonly #intervalMs: number | undefined;
  /** When each location was last checked (the timers' clock), at which generation of its spec. */
  readonly #lastRun = new Map<string, { generation: number | undefined; at: number }>();
  /** Backups seen missing from their location, and since when (ms on the wall clock). */
  readonly #missingSince = new Map<string, number>();

  constructor(
    ctx: ControllerContext,
    informers: { locations: Informer<BackupLocation>; backups: Informer<Backup> },
    options: { graceMs: number; intervalMs?: number | undefined },
  ) {
    this.#ctx = ctx;
    this.#locations = informers.locations;
    this.#backups = informers.backups;
    this.#graceMs = options.graceMs;
    this.#intervalMs = options.intervalMs;
  }

  /** Checks and syncs one location; comes back after its interval. */
  async reconcile(key: string, signal: AbortSignal): Promise<ProcessResult> {
    const location = this.#locations.get(key);
    if (!location) return;
    const name = location.metadata.name;
    const validateMs = this.#interval(location.spec.validationFrequency);
    const syncMs = this.#interval(location.spec.backupSyncPeriod);
    // Our own status write comes back as an update: look again only when the interval has passed, or
    // the spec changed (a new generation).
    const interval = Math.min(validateMs ?? Infinity, syncMs ?? Infinity, DEFAULT_INTERVAL_MS * 60);
    const last = this.#lastRun.get(name);
    const ranAt = this.#ctx.clock.now();
    if (last && last.generation === location.metadata.generation && ranAt - last.at < interval)
      return { requeueAfterMs: interval - (ranAt - last.at) };
    this.#lastRun.set(name, { generation: location.metadata.generation, at: ranAt });

    const defaults = this.#locations.list().filter((l) => l.spec.default === true);
    if (defaults.length > 1 && location.spec.default === true)
      this.#ctx.log({
        level: 'warning',
        message: `several BackupLocations are the default (${defaults.map((l) => l.metadata.name).join(', ')}); backups without a location fail validation until one is`,
      });

    const now = this.#ctx.now();
    let entries: { name: string; backup: Backup }[] = [];
    let message: string | undefined;
    // The check: the location opens and answers its first listing within its request timeout. The rest
    // of the listing (the sync) is bounded request by request by the store's own timeouts. Each location
    // has a worker of its own (server.ts), so a slow one holds up no other.
    let checkMs = DEFAULT_REQUEST_TIMEOUT_MS;
    try {
      checkMs = locationTimeouts(location.spec).requestMs;
    } catch {
      // An invalid timeout: opening the location fails below, naming the field.
    }
    const check = deadlineSignal(this.#ctx.clock, checkMs, signal);
    try {
      const store = await this.#ctx.locations.open(name, {
        createKey: false,
        withoutKey: true,
        signal: check.signal,
      });
      const listing = store.listBackups({ signal: check.signal })[Symbol.asyncIterator]();
      let next = await listing.next();
      check.disarm();
      for (; !next.done; next = await listing.next())
        if (next.value.complete) entries.push({ name: next.value.name, backup: next.value.backup });
    } catch (error) {
      message =
        check.signal.aborted && !signal.aborted
          ? `the availability check did not finish in ${checkMs / 1000} s (the location's requestTimeout)`
          : (error as Error).message;
      entries = [];
    } finally {
      check.clear();
    }
    const available = message === undefined;
    this.#ctx.metrics.locationStatus.set({ backup_location_name: name }, available ? 1 : 0);
    if (
      available !== (location.status?.phase === 'Available') ||
      location.status?.message !== message ||
      validateMs !== undefined
    )
      await patchStatus(
        this.#ctx,
        'BackupLocation',
        name,
        {
          phase: available ? 'Available' : 'Unavailable',
          message: message ?? null,
          lastValidationTime: now.toISOString(),
          ...(available && syncMs !== undefined ? { lastSyncedTime: now.toISOString() } : {}),
        },
        { signal },
      );
    if (!available) {
      this.#ctx.log({ level: 'warning', message: `location ${name} is Unavailable: ${message}` });
      return { requeueAfterMs: Math.min(validateMs ?? DEFAULT_INTERVAL_MS, syncMs ?? DEFAULT_INTERVAL_MS) };
    }
    this.#ctx.metrics.locationBackups.set({ backup_location_name: name }, entries.length);
    this.#ctx.metrics.locationBytes.set(
      { backup_location_name: name },
      entries.reduce(
        (sum, e) => sum + (e.backup.status?.locations?.find((l) => l.name === name)?.bytes ?? 0),
        0,
      ),
    );
    if (syncMs !== undefined) await this.#sync(name, entries, now, signal);
    return { requeueAfterMs: Math.min(validateMs ?? Infinity, syncMs ?? Infinity, DEFAULT_INTERVAL_MS * 60) };
  }

  /** The interval of a Go duration field: unset is the default (1 m, or the server's), "0" is never. */
  #interval(value: string | undefined): number | undefined {
    if (value === undefined) return this.#intervalMs ?? DEFAULT_INTERVAL_MS;
    const ms = parseGoDuration(value);
    return ms === undefined || ms === 0 ? undefined : ms;
  }

  async #sync(
    location: string,
    entries: { name: string; backup: Backup }[],
    now: Date,
    signal: AbortSignal,
  ): Promise<void> {
    const inCluster = new Map(this.#backups.list().map((b) => [b.metadata.name, b]));
    const stored = new Set(entries.map((e) => e.name));
    for (const { name, backup } of entries) {
      // This cluster knows the backup by this location, whatever the writer called its locations.
      const written = backup.status?.locations?.find((l) => l.phase === 'Completed');
      const status: BackupStatus = {
        ...(backup.status ?? {}),
        phase: knownPhase(backup.status?.phase),
        locations: [{ ...(written ?? {}), name: location, phase: 'Completed' }],
      };
      const known = inCluster.get(name);
      if (known) {
        // Made by an earlier sync whose status write did not land (a stop, an API error): finish it.
        if (known.metadata.annotations?.[SYNCED_ANNOTATION] !== undefined && !known.status?.phase)
          await patchStatus(this.#ctx, 'Backup', name, status, { signal: AbortSignal.timeout(10_000) });
        continue;
      }
      const created = await createResource<Backup>(
        this.#ctx,
        'Backup',
        {
          metadata: {
            name,
            labels: { ...(backup.metadata.labels ?? {}), [LOCATION_LABEL]: location },
            annotations: { [SYNCED_ANNOTATION]: location },
          },
          spec: { ...(backup.spec ?? {}), storageLocation: location, storageLocations: [location] },
        },
        signal,
      );
      if (!created) continue;
      await patchStatus(this.#ctx, 'Backup', name, status, { signal: AbortSignal.timeout(10_000) });
      this.#ctx.log({
        level: 'info',
        message: `synced backup ${name} from location ${location} (${status.phase})`,
      });
    }
    // Backups of this location, finished, whose metadata is gone from it: removed after the grace period.
    for (const backup of inCluster.values()) {
      const name = backup.metadata.name;
      const of =
        backup.metadata.labels?.[LOCATION_LABEL] ??
        backup.spec?.storageLocation ??
        backup.status?.locations?.[0]?.name;
      const phase = backup.status?.phase;
      // Only backups that were committed (they carry the checksum of their manifest): a backup a stopped
      // server left Failed, with nothing stored, keeps its record.
      const finished =
        (phase === 'Completed' || phase === 'PartiallyFailed' || phase === 'Failed') &&
        backup.status?.checksums !== undefined;
      // Another location's backup is that location's sync's to judge: its timer is left as it is (clearing
      // it here kept a backup whose files were gone from a location for ever, with two locations syncing).
      if (of !== location) continue;
      if (!finished || stored.has(name)) {
        this.#missingSince.delete(name);
        continue;
      }
      const since = this.#missingSince.get(name) ?? now.getTime();
      this.#missingSince.set(name, since);
      if (now.getTime() - since < this.#graceMs) continue;
      await deleteResource(this.#ctx, 'Backup', name, signal);
      this.#missingSince.delete(name);
      this.#ctx.log({
        level: 'warning',
        message: `removed Backup ${name}: its metadata is gone from location ${location}`,
      });
    }
  }
}
