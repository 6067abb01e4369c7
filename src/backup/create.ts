// Creating a backup end to end, the same for the CLI's standalone mode and the server's controller:
// validate → claim the name in every location → stream one archive into all of them → store logs,
// results and resource list → verify every file → commit velero-backup.json last, in each location.
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  ARCHIVE_FORMAT,
  backupNameProblem,
  systemClock,
  DEFAULT_BACKUP_TTL,
  parseGoDuration,
  Results,
  storedLogLine,
  VELERO_API_VERSION,
  type Backup,
  type BackupSpec,
  type BackupStatus,
  type LocationResult,
  type VolumePolicy,
} from '../api/index.ts';
import { ArchiveWriter } from '../archive/index.ts';
import { discover, ResourceMapper, type KubeClient } from '../kube/index.ts';
import {
  ClaimLostError,
  manifestOf,
  type BackupClaim,
  type BackupStore,
  type StoredFile,
} from '../storage/index.ts';
import { keepClaimAlive, type ClaimHeartbeat, type Sleep } from './claims.ts';
import { meterStream, watchStalls, type Stall, type UploadMeter } from './stalls.ts';
import { runBackupEngine, type BackupOutcome, type BackupProgress, type LogEntry } from './engine.ts';
import { builtinItemActions, type ItemAction } from './item-actions.ts';
import { ClaimSnapshots, type TakenSnapshot } from './snapshots.ts';
import {
  backupVolumePolicy,
  ClaimReader,
  deleteSnapshots,
  fsChosenClaims,
  MOVED,
  planPodVolumeBackups,
  volumePolicyProblems,
  VolumePolicyError,
  type PodVolumeBackupRunner,
  type VolumeDecision,
} from '../volumes/index.ts';
import type { ExecOptions, KubeObject } from '../kube/index.ts';
import { backupHooksForPod, hookSpecProblems, runHooks } from './hooks.ts';
import type { HookResult, PodVolumeBackup } from '../api/index.ts';
import { compileSelection, type ValidationProblem } from './selection.ts';
import { LABELS } from '../api/index.ts';

const gzipAsync = promisify(gzip);

/**
 * gzip level of the archive. Every item is stored twice (Velero's legacy and -preferredversion paths),
 * and the second copy falls inside deflate's window, so a fast level loses little: at 73,000 objects
 * level 3 took 15% less time than Velero's level 6 for 4% more bytes (docs/benchmarks.md).
 */
const ARCHIVE_GZIP_LEVEL = 3;

export interface CreateBackupInput {
  client: KubeClient;
  name: string;
  spec: BackupSpec;
  labels?: Record<string, string> | undefined;
  /** The locations to write to, in order: the first is the backup's storageLocation. */
  stores: BackupStore[];
  now: () => Date;
  /** Who writes the backup, recorded in the claim: "cairn v0.1.0". */
  writer: string;
  /** The writer's host and process id, recorded in the claim to name the writer of an orphaned backup. */
  host?: string | undefined;
  pid?: number | undefined;
  /** Waits between the claim's heartbeats (claims.ts); default: the machine's timers (systemClock). */
  sleep?: Sleep | undefined;
  uid: string;
  itemActions?: readonly ItemAction[] | undefined;
  pageSize?: number | undefined;
  /**
   * Who backs up the files of pod volumes (a node agent, or this process on a single-node cluster).
   * Absent: the volumes chosen for file-system backup are recorded as skipped, with the reason.
   */
  podVolumes?: PodVolumeBackupRunner | undefined;
  /**
   * Called once the backup is valid, before anything is written to a location: the CLI saves a location's
   * new key here, so that a refused backup leaves no key behind and no location records an unsaved key.
   */
  onValidated?: (() => void | Promise<void>) | undefined;
  /** Called once the name is claimed in every location and the backup starts. */
  onStarted?: (() => void) | undefined;
  onProgress?: ((progress: BackupProgress) => void) | undefined;
  /** Progress of the pod volume backups, once the API objects are stored. */
  onVolumeProgress?:
    ((progress: { volumesDone: number; volumes: number; bytesDone: number }) => void) | undefined;
  onLog?: ((entry: LogEntry & { time: string }) => void) | undefined;
  /** Cairn's namespace: where the ConfigMap a resourcePolicy names is read. Default: cairn. */
  namespace?: string | undefined;
  /**
   * snapshotMoveData: the image of the pods that expose a snapshot to the node agent (they only run
   * `sleep`). Without it (or without podVolumes) snapshots are kept as they are, with a warning.
   */
  moverImage?: string | undefined;
  moverImagePullPolicy?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Cairn's namespace unless told otherwise. */
const DEFAULT_NAMESPACE = 'cairn';

/** How long a backup waits for its pod volume backups unless its spec says (Velero's default). */
export const DEFAULT_FS_BACKUP_TIMEOUT = '4h';

/** The spec cannot be run: nothing was written. */
export class BackupValidationError extends Error {
  override readonly name = 'BackupValidationError';
  readonly problems: ValidationProblem[];
  constructor(problems: ValidationProblem[]) {
    super(
      `the backup spec is invalid: ${problems.map((p) => `${p.field} "${p.value}": ${p.message}`).join('; ')}`,
    );
    this.problems = problems;
  }
}

export function validateBackupInput(
  input: Pick<CreateBackupInput, 'name' | 'spec'> & { stores: readonly { location: string }[] },
): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const nameProblem = backupNameProblem(input.name);
  if (nameProblem) problems.push({ field: 'name', value: input.name, message: nameProblem });
  const ttl = input.spec.ttl ?? DEFAULT_BACKUP_TTL;
  if (parseGoDuration(ttl) === undefined)
    problems.push({ field: 'ttl', value: ttl, message: 'not a duration (examples: 720h, 24h30m)' });
  const fsTimeout = input.spec.fsBackupTimeout;
  if (fsTimeout !== undefined && !parseGoDuration(fsTimeout))
    problems.push({
      field: 'fsBackupTimeout',
      value: fsTimeout,
      message: 'not a positive duration (examples: 4h, 30m)',
    });
  const csiTimeout = input.spec.csiSnapshotTimeout;
  if (csiTimeout !== undefined && !parseGoDuration(csiTimeout))
    problems.push({
      field: 'csiSnapshotTimeout',
      value: csiTimeout,
      message: 'not a positive duration (examples: 10m, 90s)',
    });
  const consistency = input.spec.consistency ?? 'snapshot';
  if (consistency !== 'snapshot' && consistency !== 'best-effort') {
    problems.push({
      field: 'consistency',
      value: String(consistency),
      message: 'must be snapshot or best-effort',
    });
  }
  if (input.spec.volumePolicy)
    problems.push(...volumePolicyProblems(input.spec.volumePolicy, 'volumePolicy'));
  if (input.spec.volumePolicy && input.spec.resourcePolicy)
    problems.push({
      field: 'resourcePolicy',
      value: input.spec.resourcePolicy.name,
      message:
        'give the volume policy once: inline (volumePolicy) or in a ConfigMap (resourcePolicy), not both',
    });
  if (input.stores.length === 0)
    problems.push({ field: 'storageLocations', value: '', message: 'at least one location is needed' });
  const names = input.stores.map((s) => s.location);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate)
    problems.push({ field: 'storageLocations', value: duplicate, message: 'a location is named twice' });
  return problems;
}

/** Claims the backup's name in every location, in order; on a failure, gives back the claims made. */
async function claimEverywhere(input: CreateBackupInput, claim: BackupClaim): Promise<void> {
  const claimed: BackupStore[] = [];
  try {
    for (const store of input.stores) {
      await store.claim(claim, { signal: input.signal });
      claimed.push(store);
    }
  } catch (error) {
    // Give back the claims made so far: the name stays free where it was free.
    await Promise.allSettled(claimed.map((store) => store.releaseClaim(input.name)));
    throw error;
  }
}

/**
 * Runs a backup. Resolves with the Backup as committed (phase Completed, PartiallyFailed or Failed).
 * Rejects with BackupValidationError (bad spec) or BackupExistsError (name taken) having written nothing.
 */
export async function createBackup(input: CreateBackupInput): Promise<Backup> {
  const run: { heartbeat?: ClaimHeartbeat } = {};
  try {
    return await runCreateBackup(input, run);
  } finally {
    // Stopped before the commits already; here for a backup that threw: no refresh outlives createBackup.
    await run.heartbeat?.stop();
  }
}

async function runCreateBackup(
  input: CreateBackupInput,
  run: { heartbeat?: ClaimHeartbeat },
): Promise<Backup> {
  const { client, name, signal } = input;
  const problems = validateBackupInput(input);
  const mapper = new ResourceMapper((await discover(client, { signal })).resources);
  const { selection, problems: selectionProblems } = compileSelection(input.spec, mapper);
  problems.push(...selectionProblems, ...hookSpecProblems(input.spec.hooks?.resources));
  // The volume policy, read now (a resourcePolicy's ConfigMap): one that cannot be used refuses the backup.
  let policy: VolumePolicy | undefined;
  if (problems.length === 0)
    try {
      policy = await backupVolumePolicy(client, input.spec, input.namespace ?? DEFAULT_NAMESPACE, signal);
    } catch (error) {
      if (!(error instanceof VolumePolicyError)) throw error;
      problems.push({
        field: 'resourcePolicy',
        value: input.spec.resourcePolicy?.name ?? '',
        message: error.message,
      });
    }
  if (problems.length > 0 || !selection) throw new BackupValidationError(problems);
  await input.onValidated?.();

  const start = input.now();
  // A delete lock also locks the stored objects where the store can (S3 Object Lock, compliance mode):
  // not even the store's own credentials delete them before it passes.
  const lockDays = input.spec.deleteLockDays ?? 0;
  const retainUntil = lockDays > 0 ? new Date(start.getTime() + lockDays * 86_400_000) : undefined;
  // The name is claimed in every location while the engine starts listing (a cloud SDK loads on the
  // first claim): nothing goes to a location before every claim holds, and if one fails the engine is
  // stopped and the claim's error thrown, nothing written.
  const abort = new AbortController();
  const engineSignal = signal ? AbortSignal.any([signal, abort.signal]) : abort.signal;
  const claim: BackupClaim = {
    name,
    startedAt: start.toISOString(),
    client: input.writer,
    ...(input.host !== undefined ? { host: input.host } : {}),
    ...(input.pid !== undefined ? { pid: input.pid } : {}),
    uid: input.uid,
    heartbeatAt: start.toISOString(),
  };
  // Locations whose claim was found gone or another writer's (deleted as orphaned while this writer was
  // paused): nothing more is written there, and the backup fails with the reason.
  const failures = new Map<string, string>();
  const lost = new Map<string, string>();
  const claimLost = (store: BackupStore, error: ClaimLostError) => {
    lost.set(store.location, error.message);
    failures.set(store.location, error.message);
    abort.abort(error);
  };
  // While the backup runs its claim's heartbeat is refreshed, until just before the commits: a writer
  // that dies leaves a stale heartbeat, and the backup shows as orphaned instead of running for ever.
  const claiming = claimEverywhere(input, claim).catch((error: unknown) => {
    abort.abort(error);
    throw error;
  });
  claiming.catch(() => undefined);
  // Progress is held back until the backup has started (the claims hold), then goes on as it comes.
  let started = false;
  let heldProgress: BackupProgress | undefined;
  claiming.then(
    () => {
      started = true;
      run.heartbeat = keepClaimAlive({
        claim,
        stores: input.stores,
        now: input.now,
        sleep: input.sleep ?? ((ms, wait) => systemClock.sleep(ms, wait)),
        signal,
        onLost: claimLost,
      });
      input.onStarted?.();
      if (heldProgress) input.onProgress?.(heldProgress);
    },
    () => undefined, // the claim's error is thrown below, once the engine has stopped
  );
  // The engine's progress, with the location the backup waits for when one stalls (stalls.ts).
  let lastProgress: BackupProgress = { itemsBackedUp: 0, totalItems: 0, final: false };
  let stall: Stall | undefined;
  const onProgress = (progress: BackupProgress) => {
    lastProgress = progress;
    const shown = stall ? { ...progress, waitingFor: stall } : progress;
    if (started) input.onProgress?.(shown);
    else heldProgress = shown;
  };

  const logLines: string[] = [];
  const log = (entry: LogEntry) => {
    const line = { time: input.now().toISOString(), ...entry };
    logLines.push(storedLogLine(line.time, entry));
    input.onLog?.(line);
  };

  // One archive, streamed into every location. The slowest location paces it; a failing one drops out,
  // and when none is left the engine is stopped.
  const archive = new ArchiveWriter({
    now: input.now,
    signal: engineSignal,
    gzipLevel: ARCHIVE_GZIP_LEVEL,
    // The engine writes each item once (it keeps its own set of written items).
    checkDuplicates: false,
  });
  const archives = new Map<string, StoredFile>();
  const nowMs = () => input.now().getTime();
  const meters: UploadMeter[] = [];
  const branches: PassThrough[] = [];
  const uploads = input.stores.map(async (store) => {
    // A few MiB of slack per location, so that listing and archiving run ahead of each upload instead of
    // waiting on every write (the archive is compressed: 4 MiB holds tens of MiB of objects).
    const branch = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
    branches.push(branch);
    archive.stream.pipe(branch);
    try {
      await claiming;
    } catch {
      archive.stream.unpipe(branch);
      branch.resume();
      return;
    }
    let finished = false;
    const meter: UploadMeter = {
      location: store.location,
      lastTaken: nowMs(),
      // Bytes wait for the location: buffered ahead of it, or the whole archive made and not yet stored.
      waiting: () =>
        !finished &&
        (branch.writableFinished ||
          branch.readableLength + metered.readableLength + metered.writableLength > 0),
    };
    const metered = meterStream(meter, nowMs);
    // pipe() passes no error on: a branch destroyed (the engine failed) ends the upload's stream too.
    branch.once('close', () => {
      if (!branch.readableEnded)
        metered.destroy(new Error('the backup stopped before its archive was complete'));
    });
    branch.pipe(metered);
    meters.push(meter);
    try {
      archives.set(store.location, await store.writeFile(name, 'archive', metered, { signal, retainUntil }));
      finished = true;
    } catch (error) {
      finished = true;
      archive.stream.unpipe(branch);
      branch.unpipe(metered);
      branch.resume();
      metered.resume();
      failures.set(store.location, `storing the archive failed: ${(error as Error).message}`);
      if (failures.size === input.stores.length)
        abort.abort(new Error('every location failed to store the archive'));
    }
  });

  // While the archive goes up, a location that stops taking bytes is named in progress and in the log.
  const stallWatch = new AbortController();
  void claiming.then(
    () =>
      watchStalls({
        meters,
        now: nowMs,
        sleep: input.sleep ?? ((ms, wait) => systemClock.sleep(ms, wait)),
        signal: stallWatch.signal,
        onChange: (next) => {
          if (next && next.location !== stall?.location)
            log({
              level: 'warning',
              message: `location ${next.location} has taken no bytes for ${next.seconds} s`,
            });
          stall = next;
          onProgress(lastProgress);
        },
      }),
    () => undefined,
  );

  let outcome: BackupOutcome | undefined;
  let failureReason: string | undefined;
  // The pods backed up, as archived: their volumes' files are backed up once the objects are stored.
  const pods: KubeObject[] = [];
  const collectPods: ItemAction = {
    name: 'collect-pods',
    appliesTo: ['pods'],
    produces: [],
    execute(item) {
      pods.push(item);
      return { item, additionalItems: [] };
    },
  };
  // The claims backed up: each may get a CSI snapshot (snapshotVolumes, or a volume policy rule). The snapshots taken are kept
  // here, whatever happens to the pod volume stage, so that they are recorded (or, if no location records
  // the backup, deleted): a snapshot kept (Retain) must always be named by a backup.
  const claims: KubeObject[] = [];
  const takenSnapshots: TakenSnapshot[] = [];
  // Every volume's action and what chose it, stored for describe --details.
  const decisions: VolumeDecision[] = [];
  const collectClaims: ItemAction = {
    name: 'collect-claims',
    appliesTo: ['persistentvolumeclaims'],
    produces: [],
    execute(item) {
      claims.push(item);
      return { item, additionalItems: [] };
    },
  };
  try {
    outcome = await runBackupEngine({
      client,
      mapper,
      selection,
      consistency: input.spec.consistency ?? 'snapshot',
      archive,
      itemActions: [...(input.itemActions ?? builtinItemActions), collectPods, collectClaims],
      pageSize: input.pageSize,
      onProgress,
      log,
      signal: engineSignal,
    });
    await archive.finish();
  } catch (thrown) {
    // Some steps stopped by the signal throw a bare AbortError ("The operation was aborted") rather than
    // the signal's reason: the reason (a lost claim, every location failing) is what the user is told.
    const reason: unknown = engineSignal.reason;
    const error =
      thrown instanceof Error &&
      thrown.name === 'AbortError' &&
      engineSignal.aborted &&
      reason instanceof Error
        ? reason
        : thrown;
    failureReason = error instanceof Error ? error.message : String(error);
    log({ level: 'error', message: `the backup failed: ${failureReason}` });
    const cause = error instanceof Error ? error : new Error(failureReason);
    archive.stream.destroy(cause);
    // pipe() does not pass an error on: each upload would wait for the rest of its branch for ever. (Closed
    // without the error: a branch whose upload never started has no listener for it.)
    for (const branch of branches) branch.destroy();
  }
  await Promise.all(uploads);
  stallWatch.abort();
  if (stall) {
    stall = undefined;
    onProgress(lastProgress);
  }
  // A claim that failed stopped everything: its error is the outcome, and nothing was written.
  await claiming;

  const results = outcome?.results ?? new Results();
  if (failureReason) results.error('cairn', failureReason);
  const volumes =
    outcome && !failureReason && pods.length + claims.length > 0
      ? await backUpPodVolumes(input, {
          pods,
          claims,
          takenSnapshots,
          decisions,
          policy,
          outcome,
          results,
          log,
        }).catch((error: unknown) => {
          failureReason = `backing up pod volumes failed: ${(error as Error).message}`;
          results.error('cairn', failureReason);
          return undefined;
        })
      : undefined;
  const completion = input.now();
  const ttlMs = parseGoDuration(input.spec.ttl ?? DEFAULT_BACKUP_TTL) ?? 0;
  const locationResults: LocationResult[] = [];

  // The log's last lines: each location's archive, and the outcome as far as it is known before the
  // small files are written (the log is one of them), verified and committed.
  for (const store of input.stores) {
    const stored = archives.get(store.location);
    const failure = failures.get(store.location);
    log(
      stored && !failure
        ? {
            level: 'info',
            message: `location ${store.location}: the archive is stored (${stored.size} bytes${store.encryption ? ', encrypted' : ''})`,
          }
        : {
            level: 'error',
            message: `location ${store.location}: ${failure ?? 'the archive was not stored'}`,
          },
    );
  }
  log({
    level: failureReason ? 'error' : 'info',
    message:
      `${failureReason ? 'backup failed' : 'backup done'}: ${outcome?.progress.itemsBackedUp ?? 0} items, ` +
      `${results.warningCount} warnings, ${results.errorCount} errors; each location's files are verified ` +
      `against their checksums before the backup is committed there`,
  });

  // Per location: the small files, verification, then the commit.
  const small = {
    logs: await gzipAsync(Buffer.from(logLines.join('\n') + '\n')),
    results: await gzipAsync(Buffer.from(JSON.stringify(results.toJSON()))),
    resourceList: await gzipAsync(Buffer.from(JSON.stringify(outcome?.resourceList ?? {}))),
  };
  // Each location's copy lists the volume data that location holds (and the volumes skipped).
  const volumeRecords = new Map<string, Buffer>();
  const hookFile =
    volumes && volumes.hooks.length > 0
      ? await gzipAsync(Buffer.from(JSON.stringify(volumes.hooks)))
      : undefined;
  if (volumes?.counts)
    for (const store of input.stores)
      volumeRecords.set(
        store.location,
        await gzipAsync(
          Buffer.from(
            JSON.stringify(
              volumes.records.filter(
                (r) => r.status?.phase === 'Skipped' || r.spec.location === store.location,
              ),
            ),
          ),
        ),
      );
  // The snapshots live in the cluster, not in a location: every location's copy records them all.
  const snapshotFiles =
    takenSnapshots.length > 0
      ? {
          csiVolumeSnapshots: await gzipAsync(
            Buffer.from(JSON.stringify(takenSnapshots.map((s) => s.snapshot))),
          ),
          csiVolumeSnapshotContents: await gzipAsync(
            Buffer.from(JSON.stringify(takenSnapshots.map((s) => s.content))),
          ),
        }
      : undefined;
  const decisionFile =
    decisions.length > 0 ? await gzipAsync(Buffer.from(JSON.stringify(decisions))) : undefined;
  const committed = await Promise.all(
    input.stores.map(async (store) => {
      const files: StoredFile[] = [];
      if (lost.has(store.location)) return { store, files };
      const stored = archives.get(store.location);
      if (stored && !failureReason) files.push(stored);
      try {
        for (const file of [
          'logs',
          'results',
          'resourceList',
          'podVolumeBackups',
          'hookResults',
          'csiVolumeSnapshots',
          'csiVolumeSnapshotContents',
          'volumeDecisions',
        ] as const) {
          const body =
            file === 'podVolumeBackups'
              ? volumeRecords.get(store.location)
              : file === 'hookResults'
                ? hookFile
                : file === 'csiVolumeSnapshots' || file === 'csiVolumeSnapshotContents'
                  ? snapshotFiles?.[file]
                  : file === 'volumeDecisions'
                    ? decisionFile
                    : small[file];
          if (body) files.push(await store.writeFile(name, file, body, { signal, retainUntil }));
        }
        for (const file of files) await store.verify(file, { signal });
      } catch (error) {
        if (!failures.has(store.location)) failures.set(store.location, (error as Error).message);
      }
      return { store, files };
    }),
  );
  // The heartbeat stops before any commit, and every refresh in flight has settled: nothing rewrites a claim
  // after its commit. Right before the commits each claim is checked to be still this writer's: a location
  // where the backup was deleted while it ran gets no commit, and the backup fails.
  await run.heartbeat?.stop();
  await Promise.all(
    input.stores
      .filter((store) => !lost.has(store.location))
      .map(async (store) => {
        try {
          await store.checkClaim(claim, { signal });
        } catch (error) {
          if (error instanceof ClaimLostError) claimLost(store, error);
          else if (!failures.has(store.location))
            failures.set(store.location, `checking the claim failed: ${(error as Error).message}`);
        }
      }),
  );
  failureReason ??= [...lost.values()][0];
  for (const store of input.stores) {
    const message = failures.get(store.location);
    const files = committed.find((c) => c.store === store)?.files ?? [];
    // Every file of the backup as stored (encrypted sizes), the archive apart: what the location holds.
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    const archiveBytes = files.find((f) => f.file === 'archive')?.size;
    locationResults.push(
      message
        ? { name: store.location, phase: 'Failed', message }
        : {
            name: store.location,
            phase: 'Completed',
            bytes,
            ...(archiveBytes !== undefined ? { archiveBytes } : {}),
          },
    );
  }
  const allLocationsFailed = failures.size === input.stores.length;
  const phase: BackupStatus['phase'] =
    failureReason || allLocationsFailed
      ? 'Failed'
      : failures.size > 0 ||
          outcome?.phase === 'PartiallyFailed' ||
          (volumes?.counts?.failed ?? 0) > 0 ||
          (volumes?.snapshotsFailed ?? 0) > 0 ||
          (volumes?.hooks.some((h) => h.outcome === 'Failed' && h.onError === 'Fail') ?? false)
        ? 'PartiallyFailed'
        : 'Completed';

  const status: BackupStatus = {
    version: 1,
    formatVersion: ARCHIVE_FORMAT,
    phase,
    ...(failureReason
      ? { failureReason }
      : allLocationsFailed
        ? { failureReason: 'no location stored the backup' }
        : {}),
    startTimestamp: start.toISOString(),
    completionTimestamp: completion.toISOString(),
    expiration: new Date(start.getTime() + ttlMs).toISOString(),
    progress: outcome?.progress ?? { itemsBackedUp: 0, totalItems: 0 },
    errors: results.errorCount,
    warnings: results.warningCount,
    consistency: outcome?.consistency ?? { mode: input.spec.consistency ?? 'snapshot' },
    locations: locationResults,
    ...(volumes?.counts ? { podVolumeBackups: volumes.counts } : {}),
    // A snapshot whose data was moved counts as taken (it was, before it was deleted).
    ...(takenSnapshots.length + (volumes?.snapshotsFailed ?? 0) + (volumes?.snapshotsMoved ?? 0) > 0
      ? {
          csiVolumeSnapshotsAttempted:
            takenSnapshots.length + (volumes?.snapshotsFailed ?? 0) + (volumes?.snapshotsMoved ?? 0),
          csiVolumeSnapshotsCompleted: takenSnapshots.length + (volumes?.snapshotsMoved ?? 0),
        }
      : {}),
    ...(volumes?.moves ? { snapshotDataMoves: volumes.moves } : {}),
    ...(volumes && volumes.hooks.length > 0
      ? {
          hookStatus: {
            hooksAttempted: volumes.hooks.filter((h) => h.outcome !== 'NotRun').length,
            hooksFailed: volumes.hooks.filter((h) => h.outcome === 'Failed').length,
          },
        }
      : {}),
  };
  const spec: BackupSpec = {
    ...input.spec,
    ttl: input.spec.ttl ?? DEFAULT_BACKUP_TTL,
    storageLocation: input.stores[0]?.location ?? '',
    storageLocations: input.stores.map((s) => s.location),
    consistency: input.spec.consistency ?? 'snapshot',
  };

  let result: Backup | undefined;
  for (const { store, files } of committed) {
    // A failed backup is recorded as Failed wherever its logs landed. Otherwise a location that lost a
    // file gets no metadata: its copy stays visibly incomplete, never a Completed one with missing parts.
    if (!failureReason && failures.has(store.location)) continue;
    if (lost.has(store.location)) continue; // the name is no longer this backup's there
    const { manifest, sha256 } = manifestOf(name, files, store.encryption);
    const backup: Backup = {
      apiVersion: VELERO_API_VERSION,
      kind: 'Backup',
      metadata: {
        name,
        uid: input.uid,
        labels: { ...input.labels, [LABELS.veleroStorageLocation]: store.location },
        creationTimestamp: start.toISOString(),
      },
      spec,
      status: { ...status, ...(store.encryption ? { encryption: store.encryption } : {}), checksums: sha256 },
    };
    try {
      await store.commit(backup, manifest, { signal, retainUntil });
      result ??= backup;
    } catch (error) {
      const entry = locationResults.find((l) => l.name === store.location);
      if (entry)
        Object.assign(entry, { phase: 'Failed', message: `committing failed: ${(error as Error).message}` });
    }
  }
  // No location recorded the backup: nothing would name its snapshots, so they go.
  if (!result && takenSnapshots.length > 0) {
    const problems = await deleteSnapshots(
      input.client,
      takenSnapshots.map((t) => t.record),
    );
    for (const problem of problems) log({ level: 'error', message: problem });
  }
  return (
    result ?? {
      apiVersion: VELERO_API_VERSION,
      kind: 'Backup',
      metadata: { name, uid: input.uid, ...(input.labels ? { labels: input.labels } : {}) },
      spec,
      status: {
        ...status,
        phase: 'Failed',
        failureReason: status.failureReason ?? 'no location stored the backup',
      },
    }
  );
}

interface VolumeOutcome {
  records: PodVolumeBackup[];
  /** Undefined when no pod has volumes to back up or skip. */
  counts: NonNullable<BackupStatus['podVolumeBackups']> | undefined;
  hooks: HookResult[];
  /** The CSI snapshots taken (snapshotVolumes), and how many failed. */
  snapshots: TakenSnapshot[];
  snapshotsFailed: number;
  /** Snapshots whose data was moved into the repositories, and which were then deleted. */
  snapshotsMoved: number;
  /** The snapshot data moves tried, done, failed, and the bytes read. */
  moves: NonNullable<BackupStatus['snapshotDataMoves']> | undefined;
}

/** Pods whose hooks and volumes are taken care of at once. */
const POD_CONCURRENCY = 4;

/**
 * The backed-up pods' hooks and the files of their volumes, pod by pod (a few pods at once): the pod's pre
 * hooks, then its volumes (carried out by the runner, waited for up to the spec's fsBackupTimeout), then
 * its post hooks — run whatever happened before them, so that what a pre hook froze is thawed. A pre hook
 * that fails with on-error Fail leaves the pod's volumes out (Failed, with the hook's message). Failed
 * volumes and hooks are errors in the pod's namespace (the backup is PartiallyFailed); a hook that fails
 * with on-error Continue is a warning. Every volume's record goes into <name>-podvolumebackups.json.gz,
 * every hook's outcome into <name>-hooks.json.gz.
 */
async function backUpPodVolumes(
  input: CreateBackupInput,
  context: {
    pods: KubeObject[];
    claims: KubeObject[];
    /** Where the CSI snapshots taken go, as they are taken. */
    takenSnapshots: TakenSnapshot[];
    /** Where every volume's decision goes. */
    decisions: VolumeDecision[];
    policy: VolumePolicy | undefined;
    outcome: BackupOutcome;
    results: Results;
    log: (entry: LogEntry) => void;
  },
): Promise<VolumeOutcome | undefined> {
  const { results, log } = context;
  if (input.stores.length === 0) return undefined;
  const reader = new ClaimReader(input.client, input.signal);
  // With a policy, every claim's facts are read (its PersistentVolume): started at once, side by side.
  if (context.policy?.volumePolicies?.length)
    for (const claim of context.claims)
      void reader.read(claim.metadata.namespace ?? '', claim.metadata.name, claim).catch(() => undefined);
  const plan = await planPodVolumeBackups({
    client: input.client,
    pods: context.pods,
    backupName: input.name,
    backupUid: input.uid,
    locations: input.stores.map((store) => store.location),
    defaultVolumesToFsBackup: input.spec.defaultVolumesToFsBackup ?? false,
    claimsIncluded: 'v1/PersistentVolumeClaim' in context.outcome.resourceList,
    policy: context.policy,
    reader,
    signal: input.signal,
  });
  for (const warning of plan.warnings) results.warning('cairn', warning);
  const runner = input.podVolumes;
  if (plan.backups.length > 0 && !runner) {
    for (const backup of plan.backups) {
      backup.status = {
        phase: 'Skipped',
        message:
          'no node agent backs up volume files here (install the server with its node agent, or use ' +
          '--node-agent local on a single-node cluster)',
      };
      results.warning(
        { namespace: backup.spec.pod.namespace },
        `pod ${backup.spec.pod.name} volume ${backup.spec.volume}: ${backup.status.message}`,
      );
    }
    // One record per volume, as for any skipped volume (not one per location).
    const first = input.stores[0]?.location;
    plan.skipped.push(...plan.backups.splice(0).filter((b) => b.spec.location === first));
    for (const decision of plan.decisions)
      if (decision.action === 'fs-backup' && !decision.detail?.startsWith('not done'))
        decision.detail = 'not done: no node agent backs up volume files here';
  }

  const snapshots =
    context.claims.length > 0
      ? await ClaimSnapshots.plan({
          client: input.client,
          spec: input.spec,
          backupName: input.name,
          backupUid: input.uid,
          results,
          log,
          signal: input.signal,
          claims: context.claims,
          pods: context.pods,
          sink: context.takenSnapshots,
          fsChosen: fsChosenClaims(plan),
          policy: context.policy,
          reader,
          move:
            runner && input.moverImage
              ? {
                  runner,
                  locations: input.stores.map((store) => store.location),
                  image: input.moverImage,
                  imagePullPolicy: input.moverImagePullPolicy,
                  timeoutMs: parseGoDuration(input.spec.csiSnapshotTimeout ?? '10m') || 600_000,
                }
              : undefined,
        })
      : undefined;
  if (!(runner && input.moverImage) && snapshots?.decisions.some((d) => d.detail?.endsWith(MOVED)))
    results.warning(
      'cairn',
      'snapshot data movement: no node agent moves snapshot data here (install the server with its node ' +
        'agent, or use --node-agent local on a single-node cluster): the CSI snapshots are kept as they are',
    );
  // Each claim's decision is the claim-level one; a pod volume's stands for volumes without a claim in the
  // backup.
  const decidedClaims = new Set(
    context.claims.map((c) => `${c.metadata.namespace ?? ''}/${c.metadata.name}`),
  );
  context.decisions.push(
    ...plan.decisions.filter((d) => d.claim === undefined || !decidedClaims.has(`${d.namespace}/${d.claim}`)),
    ...(snapshots?.decisions ?? []),
  );

  // Each pod's volumes to back up, and its hooks. A pod that is not running has no container to run them
  // in (a finished Job's, a pending one): its hooks are left out with a warning.
  const work = context.pods
    .map((pod) => {
      const namespace = pod.metadata.namespace ?? '';
      const hooks = backupHooksForPod(pod, input.spec.hooks?.resources);
      const phase = (pod.status as { phase?: string } | undefined)?.phase;
      if (phase !== 'Running' && hooks.pre.length + hooks.post.length > 0) {
        results.warning(
          { namespace },
          `pod ${pod.metadata.name} is ${phase ?? 'not running'}: its ${hooks.pre.length + hooks.post.length} backup hooks were not run`,
        );
        hooks.pre = [];
        hooks.post = [];
      }
      return {
        pod,
        namespace,
        name: pod.metadata.name,
        hooks,
        backups: plan.backups.filter((b) => b.spec.pod.uid === (pod.metadata.uid ?? '')),
      };
    })
    .filter(
      (w) =>
        w.backups.length > 0 ||
        w.hooks.pre.length > 0 ||
        w.hooks.post.length > 0 ||
        (snapshots?.hasClaimsOf(w.pod) ?? false),
    );
  if (work.length === 0 && plan.skipped.length === 0 && (snapshots?.pending ?? 0) === 0) return undefined;

  const timeout = input.spec.fsBackupTimeout ?? DEFAULT_FS_BACKUP_TIMEOUT;
  const timeoutMs = parseGoDuration(timeout) ?? 4 * 3_600_000;
  const expired = AbortSignal.timeout(timeoutMs);
  const signal = input.signal ? AbortSignal.any([input.signal, expired]) : expired;
  if (plan.backups.length > 0 && runner)
    log({
      level: 'info',
      message: `backing up the files of ${plan.backups.length} pod volumes on ${runner.description}`,
    });
  const exec = (options: ExecOptions) => input.client.exec(options);
  const hookResults: HookResult[] = [];
  const done: PodVolumeBackup[] = [];
  const progress = new Map<string, { volumesDone: number; bytesDone: number }>();
  const report = () => {
    let volumesDone = 0;
    let bytesDone = 0;
    for (const p of progress.values()) {
      volumesDone += p.volumesDone;
      bytesDone += p.bytesDone;
    }
    input.onVolumeProgress?.({ volumesDone, volumes: plan.backups.length, bytesDone });
  };
  const hookLog = (result: HookResult) => {
    hookResults.push(result);
    if (result.outcome === 'Succeeded')
      log({
        level: 'info',
        message: `${result.phase} hook ${JSON.stringify(result.command)} in pod ${result.pod} container ${result.container}: exit code 0 after ${result.durationMs ?? 0} ms`,
        namespace: result.pod.split('/')[0] ?? '',
      });
    else if (result.outcome === 'Failed') {
      const namespace = result.pod.split('/')[0] ?? '';
      if (result.onError === 'Fail') results.error({ namespace }, result.message ?? 'a hook failed');
      else results.warning({ namespace }, result.message ?? 'a hook failed');
      log({
        level: result.onError === 'Fail' ? 'error' : 'warning',
        message: result.message ?? '',
        namespace,
      });
    }
  };

  let stopped: Error | undefined;
  const one = async (item: (typeof work)[number]) => {
    const pod = { namespace: item.namespace, name: item.name };
    const key = `${item.namespace}/${item.name}`;
    const pre = await runHooks(exec, pod, item.hooks.pre, input.signal);
    pre.results.forEach(hookLog);
    // Stopped before any pre hook ran: nothing to thaw, nothing read.
    if (item.hooks.pre.length > 0 && pre.results.every((r) => r.outcome === 'NotRun') && !pre.failed) return;
    try {
      if (pre.failed) {
        snapshots?.failForPod(item.pod, `its pod's pre hook failed: ${pre.failed.message ?? ''}`);
        for (const backup of item.backups) {
          backup.status = {
            phase: 'Failed',
            message: `not backed up: its pod's pre hook failed: ${pre.failed.message ?? ''}`,
          };
          done.push(backup);
        }
        progress.set(key, { volumesDone: item.backups.length, bytesDone: 0 });
        report();
      } else {
        // Both settle before the post hooks run (a thaw never comes while a snapshot is being cut).
        const settled = await Promise.allSettled([
          item.backups.length > 0 && runner
            ? runner
                .run(item.backups, {
                  onProgress: (p) => {
                    progress.set(key, { volumesDone: p.volumesDone, bytesDone: p.bytesDone });
                    report();
                  },
                  signal,
                })
                .then((finished) => void done.push(...finished))
            : undefined,
          snapshots?.forPod(item.pod),
        ]);
        for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
      }
    } finally {
      // Thawed whatever happened: no signal but each hook's own timeout (a stopped backup still thaws).
      const post = await runHooks(exec, pod, item.hooks.post);
      post.results.forEach(hookLog);
    }
  };
  // A few pods at once; after a failure or a stop no further pod is started, and every pod started is
  // seen through (its post hooks run) before the outcome is decided.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(POD_CONCURRENCY, work.length) }, async () => {
      while (next < work.length && stopped === undefined && !input.signal?.aborted)
        await one(work[next++] as (typeof work)[number]).catch((error: unknown) => {
          stopped ??=
            error instanceof Error ? error : new Error('a pod’s hooks or volumes failed', { cause: error });
        });
    }),
  );
  if (stopped) throw stopped;
  input.signal?.throwIfAborted();
  // The claims no backed-up pod mounts.
  await snapshots?.rest();
  // snapshotMoveData: each snapshot's data into the repositories, now that every pod's hooks have run.
  done.push(...((await snapshots?.moveData(signal)) ?? []));

  for (const backup of done) {
    const { pod, volume } = backup.spec;
    if (backup.status?.phase === 'Completed') {
      log({
        level: 'info',
        message:
          `pod ${pod.namespace}/${pod.name} volume ${volume}: snapshot ${backup.status.snapshotID?.slice(0, 8)}, ` +
          `${backup.status.files ?? 0} files, ${backup.status.bytes ?? 0} bytes, ${backup.status.bytesUploaded ?? 0} bytes stored anew`,
        namespace: pod.namespace,
      });
      continue;
    }
    // A volume its pre hook left out keeps that reason; one the timeout stopped says so.
    const hookFailed =
      backup.status?.phase === 'Failed' && backup.status.message?.startsWith('not backed up:');
    const message =
      expired.aborted && !hookFailed
        ? `the backup's fsBackupTimeout (${timeout}) passed before the volume was backed up`
        : (backup.status?.message ?? 'it did not end');
    backup.status = { ...backup.status, phase: 'Failed', message };
    results.error({ namespace: pod.namespace }, `pod ${pod.name} volume ${volume}: ${message}`);
  }
  const count = (phase: string) => done.filter((b) => b.status?.phase === phase).length;
  const sum = (field: 'bytes' | 'bytesUploaded') =>
    done.reduce((total, b) => total + (b.status?.[field] ?? 0), 0);
  const anyVolumes = done.length + plan.skipped.length > 0;
  return {
    records: [...done, ...plan.skipped],
    counts: anyVolumes
      ? {
          attempted: done.length,
          completed: count('Completed'),
          failed: count('Failed'),
          skipped: plan.skipped.length,
          bytes: sum('bytes'),
          bytesUploaded: sum('bytesUploaded'),
        }
      : undefined,
    hooks: hookResults,
    snapshots: context.takenSnapshots,
    snapshotsFailed: snapshots?.failed.length ?? 0,
    snapshotsMoved: snapshots?.moved ?? 0,
    moves: snapshots && snapshots.moves.attempted > 0 ? { ...snapshots.moves } : undefined,
  };
}
