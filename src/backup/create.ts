// Creating a backup end to end, the same for the CLI's standalone mode and the server's controller:
// validate → claim the name in every location → stream one archive into all of them → back up pod
// volumes → store logs, results and resource list → verify every file → commit velero-backup.json last,
// in each location. The locations are storage's MultiLocationWriter; this module decides what goes in.
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  ARCHIVE_FORMAT,
  backupNameProblem,
  systemClock,
  DEFAULT_BACKUP_TTL,
  LABELS,
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
import { discover, ResourceMapper, type KubeClient, type KubeObject } from '../kube/index.ts';
import {
  MultiLocationWriter,
  type BackupClaim,
  type BackupDataFile,
  type BackupStore,
  type FilesFor,
} from '../storage/index.ts';
import {
  backupVolumePolicy,
  deleteSnapshots,
  volumePolicyProblems,
  VolumePolicyError,
  type PodVolumeBackupRunner,
  type VolumeDecision,
} from '../volumes/index.ts';
import { keepClaimAlive, type ClaimHeartbeat, type Sleep } from './claims.ts';
import { runBackupEngine, type BackupOutcome, type BackupProgress, type LogEntry } from './engine.ts';
import { hookSpecProblems } from './hooks.ts';
import { builtinItemActions, type ItemAction } from './item-actions.ts';
import { backUpPodVolumes, type VolumeOutcome } from './pod-volumes.ts';
import { compileSelection, type Selection, type ValidationProblem } from './selection.ts';
import type { TakenSnapshot } from './snapshots.ts';
import { STALL_LOG_EVERY_MS, watchStalls, type Stall } from './stalls.ts';

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
  /**
   * Awaited once every file is verified, right before the commits, while the claims are still kept alive:
   * the server waits here until it leads again after losing its lease. A rejection fails the backup with
   * its error, nothing committed.
   */
  beforeCommit?: (() => Promise<void>) | undefined;
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

/**
 * Runs a backup. Resolves with the Backup as committed (phase Completed, PartiallyFailed or Failed).
 * Rejects with BackupValidationError (bad spec) or BackupExistsError (name taken) having written nothing.
 */
export async function createBackup(input: CreateBackupInput): Promise<Backup> {
  const held: { heartbeat?: ClaimHeartbeat } = {};
  try {
    return await runCreateBackup(input, held);
  } finally {
    // Stopped before the commits already; here for a backup that threw: no refresh outlives createBackup.
    await held.heartbeat?.stop();
  }
}

/** One run of createBackup: what its stages share. */
interface BackupRun {
  input: CreateBackupInput;
  start: Date;
  claim: BackupClaim;
  /** The backup's locations: the claims, the archive's tee, the files, the verification and commits. */
  writer: MultiLocationWriter;
  log: (entry: LogEntry) => void;
  /** The log as stored in <name>-logs.gz, a line per entry. */
  logLines: string[];
  /** The claim's heartbeat, once every claim holds (stopped by createBackup whatever happens). */
  held: { heartbeat?: ClaimHeartbeat };
}

async function runCreateBackup(
  input: CreateBackupInput,
  held: { heartbeat?: ClaimHeartbeat },
): Promise<Backup> {
  const compiled = await validate(input);
  await input.onValidated?.();
  const run = startRun(input, held);
  const archived = await archiveItems(run, compiled);
  let failureReason = archived.failureReason;
  const results = archived.outcome?.results ?? new Results();
  if (failureReason) results.error('cairn', failureReason);
  // The claims backed up may get CSI snapshots; the snapshots taken are kept here, whatever happens to the
  // pod volume stage, so that they are recorded (or, if no location records the backup, deleted): a
  // snapshot kept (Retain) must always be named by a backup.
  const takenSnapshots: TakenSnapshot[] = [];
  // Every volume's action and what chose it, stored for describe --details.
  const decisions: VolumeDecision[] = [];
  const volumes =
    archived.outcome && !failureReason && archived.pods.length + archived.claims.length > 0
      ? await backUpPodVolumes(input, {
          pods: archived.pods,
          claims: archived.claims,
          takenSnapshots,
          decisions,
          policy: compiled.policy,
          outcome: archived.outcome,
          results,
          log: run.log,
        }).catch((error: unknown) => {
          failureReason = `backing up pod volumes failed: ${(error as Error).message}`;
          results.error('cairn', failureReason);
          return undefined;
        })
      : undefined;
  const completion = input.now();
  logOutcome(run, { failureReason, outcome: archived.outcome, results });

  // Per location: the small files, verification, then the commit. A failed backup's record lists its
  // logs and results, not its archive.
  if (failureReason) run.writer.leaveOut('archive');
  await run.writer.writeFiles(
    await smallFiles(run, { outcome: archived.outcome, results, volumes, takenSnapshots, decisions }),
  );
  await run.writer.verify();
  await input.beforeCommit?.();
  // The heartbeat stops before any commit, and every refresh in flight has settled: nothing rewrites a claim
  // after its commit. Right before the commits each claim is checked to be still this writer's: a location
  // where the backup was deleted while it ran gets no commit, and the backup fails.
  await held.heartbeat?.stop();
  await run.writer.checkClaims(run.claim);
  failureReason ??= run.writer.claimLost?.message;
  const status = backupStatus(run, {
    failureReason,
    outcome: archived.outcome,
    results,
    volumes,
    takenSnapshots,
    completion,
  });
  return commit(run, { status, failureReason, takenSnapshots });
}

/** What a valid spec compiles to. */
interface CompiledSpec {
  mapper: ResourceMapper;
  selection: Selection;
  policy: VolumePolicy | undefined;
}

/** Checks the input against the cluster (its resources, the resourcePolicy's ConfigMap); throws every problem. */
async function validate(input: CreateBackupInput): Promise<CompiledSpec> {
  const { client, signal } = input;
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
  return { mapper, selection, policy };
}

/** The run's claim, its writer over every location, and its log. */
function startRun(input: CreateBackupInput, held: { heartbeat?: ClaimHeartbeat }): BackupRun {
  const start = input.now();
  // A delete lock also locks the stored objects where the store can (S3 Object Lock, compliance mode):
  // not even the store's own credentials delete them before it passes.
  const lockDays = input.spec.deleteLockDays ?? 0;
  const retainUntil = lockDays > 0 ? new Date(start.getTime() + lockDays * 86_400_000) : undefined;
  const claim: BackupClaim = {
    name: input.name,
    startedAt: start.toISOString(),
    client: input.writer,
    ...(input.host !== undefined ? { host: input.host } : {}),
    ...(input.pid !== undefined ? { pid: input.pid } : {}),
    uid: input.uid,
    heartbeatAt: start.toISOString(),
  };
  const writer = new MultiLocationWriter({
    name: input.name,
    stores: input.stores,
    retainUntil,
    now: input.now,
    signal: input.signal,
  });
  const logLines: string[] = [];
  const log = (entry: LogEntry) => {
    const line = { time: input.now().toISOString(), ...entry };
    logLines.push(storedLogLine(line.time, entry));
    input.onLog?.(line);
  };
  return { input, start, claim, writer, log, logLines, held };
}

/** What the engine's run left: its outcome, or why it failed; the pods and claims it archived. */
interface Archived {
  outcome: BackupOutcome | undefined;
  failureReason: string | undefined;
  /** The pods backed up: their volumes' files are backed up once the objects are stored. */
  pods: KubeObject[];
  /** The claims backed up: each may get a CSI snapshot (snapshotVolumes, or a volume policy rule). */
  claims: KubeObject[];
}

/**
 * Claims the name in every location while the engine starts listing (a cloud SDK loads on the first
 * claim), and streams one archive of the items into every location. Nothing goes to a location before
 * every claim holds; if one fails the engine is stopped and the claim's error thrown, nothing written.
 * The slowest location paces the archive; a failing one drops out, and when none is left (or a claim is
 * lost) the engine is stopped and the backup fails with the reason.
 */
async function archiveItems(run: BackupRun, compiled: CompiledSpec): Promise<Archived> {
  const { input, writer } = run;
  const engineSignal = input.signal ? AbortSignal.any([input.signal, writer.signal]) : writer.signal;
  const progress = new ProgressReport(input.onProgress);
  const claiming = writer.claim(run.claim);
  claiming.then(
    () => {
      // While the backup runs its claim's heartbeat is refreshed, until just before the commits: a writer
      // that dies leaves a stale heartbeat, and the backup shows as orphaned instead of running for ever.
      // A claim found gone or another writer's (deleted as orphaned while this writer was paused) stops
      // the backup: nothing more is written there, and it fails with the reason.
      run.held.heartbeat = keepClaimAlive({
        claim: run.claim,
        stores: input.stores,
        now: input.now,
        sleep: sleepOf(input),
        signal: input.signal,
        onLost: (_store, error) => writer.lose(error),
      });
      input.onStarted?.();
      progress.start();
    },
    () => undefined, // the claim's error is thrown below, once the engine has stopped
  );
  const archive = new ArchiveWriter({
    now: input.now,
    signal: engineSignal,
    gzipLevel: ARCHIVE_GZIP_LEVEL,
    // The engine writes each item once (it keeps its own set of written items).
    checkDuplicates: false,
  });
  const uploads = writer.tee('archive', archive.stream);
  const stopWatching = watchForStalls(run, claiming, progress);
  const pods: KubeObject[] = [];
  const claims: KubeObject[] = [];
  let outcome: BackupOutcome | undefined;
  let failureReason: string | undefined;
  try {
    outcome = await runBackupEngine({
      client: input.client,
      mapper: compiled.mapper,
      selection: compiled.selection,
      consistency: input.spec.consistency ?? 'snapshot',
      archive,
      itemActions: [
        ...(input.itemActions ?? builtinItemActions),
        collector('collect-pods', 'pods', pods),
        collector('collect-claims', 'persistentvolumeclaims', claims),
      ],
      pageSize: input.pageSize,
      onProgress: progress.update,
      log: run.log,
      signal: engineSignal,
    });
    await archive.finish();
  } catch (thrown) {
    const error = stopReason(thrown, engineSignal);
    failureReason = error.message;
    run.log({ level: 'error', message: `the backup failed: ${failureReason}` });
    // The writer's tee fails every upload of an archive that ends this way.
    archive.stream.destroy(error);
  }
  await uploads;
  stopWatching();
  // A claim that failed stopped everything: its error is the outcome, and nothing was written.
  await claiming;
  return { outcome, failureReason, pods, claims };
}

/**
 * Why the engine stopped. Some steps stopped by the signal throw a bare AbortError ("The operation was
 * aborted") rather than the signal's reason: the reason (a lost claim, every location failing) is what
 * the user is told.
 */
function stopReason(thrown: unknown, signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  const error =
    thrown instanceof Error && thrown.name === 'AbortError' && signal.aborted && reason instanceof Error
      ? reason
      : thrown;
  return error instanceof Error ? error : new Error(String(error));
}

/** An item action that keeps each item of `resource` the engine archives, unchanged. */
function collector(name: string, resource: string, into: KubeObject[]): ItemAction {
  return {
    name,
    appliesTo: [resource],
    produces: [],
    execute(item) {
      into.push(item);
      return { item, additionalItems: [] };
    },
  };
}

function sleepOf(input: CreateBackupInput): Sleep {
  return input.sleep ?? ((ms, wait) => systemClock.sleep(ms, wait));
}

/**
 * The engine's progress as the caller sees it: held back until the backup has started (every claim
 * holds), then passed on as it comes, with the location the backup waits for while one stalls.
 */
class ProgressReport {
  readonly #onProgress: ((progress: BackupProgress) => void) | undefined;
  #started = false;
  #held: BackupProgress | undefined;
  #last: BackupProgress = { itemsBackedUp: 0, totalItems: 0, final: false };
  #stall: Stall | undefined;

  constructor(onProgress: ((progress: BackupProgress) => void) | undefined) {
    this.#onProgress = onProgress;
  }

  get stall(): Stall | undefined {
    return this.#stall;
  }

  /** The engine's progress callback. */
  readonly update = (progress: BackupProgress): void => {
    this.#last = progress;
    const shown = this.#stall ? { ...progress, waitingFor: this.#stall } : progress;
    if (this.#started) this.#onProgress?.(shown);
    else this.#held = shown;
  };

  /** The backup has started: what was held back goes out. */
  start(): void {
    this.#started = true;
    if (this.#held) this.#onProgress?.(this.#held);
  }

  /** A stall began, changed or (undefined) ended: the last progress goes out again, saying so. */
  stalled(stall: Stall | undefined): void {
    this.#stall = stall;
    this.update(this.#last);
  }
}

/**
 * While the archive goes up, a location that stops taking bytes is named in progress and in the log.
 * Returns what stops the watch and clears a stall still shown.
 */
function watchForStalls(run: BackupRun, claiming: Promise<void>, progress: ProgressReport): () => void {
  const stop = new AbortController();
  const nowMs = () => run.input.now().getTime();
  // The log says so when a stall begins, and again every STALL_LOG_EVERY_MS while it lasts: a stall the
  // location's idle timeout ends has its length in the log before the failure.
  let logged: Stall | undefined;
  void claiming.then(
    () =>
      watchStalls({
        meters: run.writer.uploads,
        now: nowMs,
        sleep: sleepOf(run.input),
        signal: stop.signal,
        onChange: (next) => {
          if (
            next &&
            (next.location !== logged?.location || next.seconds - logged.seconds >= STALL_LOG_EVERY_MS / 1000)
          ) {
            logged = next;
            run.log({
              level: 'warning',
              message: `location ${next.location}: no progress for ${next.seconds} s`,
            });
          }
          if (!next) logged = undefined;
          progress.stalled(next);
        },
      }),
    () => undefined,
  );
  return () => {
    stop.abort();
    if (progress.stall) progress.stalled(undefined);
  };
}

/**
 * The log's last lines: each location's archive, and the outcome as far as it is known before the small
 * files are written (the log is one of them), verified and committed.
 */
function logOutcome(
  run: BackupRun,
  context: { failureReason: string | undefined; outcome: BackupOutcome | undefined; results: Results },
): void {
  const { failureReason, outcome, results } = context;
  for (const store of run.input.stores) {
    const location = run.writer.outcome(store.location);
    const stored = location?.files.find((f) => f.file === 'archive');
    run.log(
      stored && location?.ok
        ? {
            level: 'info',
            message: `location ${store.location}: the archive is stored (${stored.size} bytes${store.encryption ? ', encrypted' : ''})`,
          }
        : {
            level: 'error',
            message: `location ${store.location}: ${location?.ok === false ? location.reason : 'the archive was not stored'}`,
          },
    );
  }
  run.log({
    level: failureReason ? 'error' : 'info',
    message:
      `${failureReason ? 'backup failed' : 'backup done'}: ${outcome?.progress.itemsBackedUp ?? 0} items, ` +
      `${results.warningCount} warnings, ${results.errorCount} errors; each location's files are verified ` +
      `against their checksums before the backup is committed there`,
  });
}

const gzipJson = (value: unknown) => gzipAsync(Buffer.from(JSON.stringify(value)));

/** The files besides the archive, gzipped, in the order each location stores them. */
async function smallFiles(
  run: BackupRun,
  context: {
    outcome: BackupOutcome | undefined;
    results: Results;
    volumes: VolumeOutcome | undefined;
    takenSnapshots: TakenSnapshot[];
    decisions: VolumeDecision[];
  },
): Promise<FilesFor> {
  const { volumes, takenSnapshots, decisions } = context;
  const shared = {
    logs: await gzipAsync(Buffer.from(run.logLines.join('\n') + '\n')),
    results: await gzipJson(context.results.toJSON()),
    resourceList: await gzipJson(context.outcome?.resourceList ?? {}),
  };
  // Each location's copy lists the volume data that location holds (and the volumes skipped).
  const volumeRecords = new Map<string, Buffer>();
  if (volumes?.counts)
    for (const store of run.input.stores)
      volumeRecords.set(
        store.location,
        await gzipJson(
          volumes.records.filter((r) => r.status?.phase === 'Skipped' || r.spec.location === store.location),
        ),
      );
  const hookResults = volumes && volumes.hooks.length > 0 ? await gzipJson(volumes.hooks) : undefined;
  // The snapshots live in the cluster, not in a location: every location's copy records them all.
  const snapshots =
    takenSnapshots.length > 0
      ? {
          csiVolumeSnapshots: await gzipJson(takenSnapshots.map((s) => s.snapshot)),
          csiVolumeSnapshotContents: await gzipJson(takenSnapshots.map((s) => s.content)),
        }
      : undefined;
  const volumeDecisions = decisions.length > 0 ? await gzipJson(decisions) : undefined;
  return (location) => {
    const files: { file: BackupDataFile; body: Buffer | undefined }[] = [
      { file: 'logs', body: shared.logs },
      { file: 'results', body: shared.results },
      { file: 'resourceList', body: shared.resourceList },
      { file: 'podVolumeBackups', body: volumeRecords.get(location) },
      { file: 'hookResults', body: hookResults },
      { file: 'csiVolumeSnapshots', body: snapshots?.csiVolumeSnapshots },
      { file: 'csiVolumeSnapshotContents', body: snapshots?.csiVolumeSnapshotContents },
      { file: 'volumeDecisions', body: volumeDecisions },
    ];
    return files.filter((f): f is { file: BackupDataFile; body: Buffer } => f.body !== undefined);
  };
}

/** Each location's result: what it holds (stored sizes, the archive apart), or why it failed. */
function locationResults(writer: MultiLocationWriter): LocationResult[] {
  return writer.outcomes().map((outcome) => {
    if (!outcome.ok) return { name: outcome.location, phase: 'Failed', message: outcome.reason };
    const archiveBytes = outcome.files.find((f) => f.file === 'archive')?.size;
    return {
      name: outcome.location,
      phase: 'Completed',
      bytes: outcome.files.reduce((sum, f) => sum + f.size, 0),
      ...(archiveBytes !== undefined ? { archiveBytes } : {}),
    };
  });
}

/** Why each location failed, for a failureReason that names them: "location minio: …; location b: …". */
function eachReason(locations: readonly LocationResult[]): string {
  return locations.map((l) => `location ${l.name}: ${l.message ?? 'failed'}`).join('; ');
}

/** The backup's status, the same in every location (each adds its encryption and checksums). */
function backupStatus(
  run: BackupRun,
  context: {
    failureReason: string | undefined;
    outcome: BackupOutcome | undefined;
    results: Results;
    volumes: VolumeOutcome | undefined;
    takenSnapshots: TakenSnapshot[];
    completion: Date;
  },
): BackupStatus {
  const { input, start } = run;
  const { failureReason, outcome, results, volumes, takenSnapshots } = context;
  const locations = locationResults(run.writer);
  const failedLocations = locations.filter((l) => l.phase === 'Failed').length;
  const allLocationsFailed = failedLocations === locations.length;
  const phase: BackupStatus['phase'] =
    failureReason || allLocationsFailed
      ? 'Failed'
      : failedLocations > 0 ||
          outcome?.phase === 'PartiallyFailed' ||
          (volumes?.counts?.failed ?? 0) > 0 ||
          (volumes?.snapshotsFailed ?? 0) > 0 ||
          (volumes?.hooks.some((h) => h.outcome === 'Failed' && h.onError === 'Fail') ?? false)
        ? 'PartiallyFailed'
        : 'Completed';
  const ttlMs = parseGoDuration(input.spec.ttl ?? DEFAULT_BACKUP_TTL) ?? 0;
  // A snapshot whose data was moved counts as taken (it was, before it was deleted).
  const snapshotsTaken = takenSnapshots.length + (volumes?.snapshotsMoved ?? 0);
  const snapshotsAttempted = snapshotsTaken + (volumes?.snapshotsFailed ?? 0);
  return {
    version: 1,
    formatVersion: ARCHIVE_FORMAT,
    phase,
    ...(failureReason
      ? { failureReason }
      : allLocationsFailed
        ? { failureReason: `no location stored the backup (${eachReason(locations)})` }
        : {}),
    startTimestamp: start.toISOString(),
    completionTimestamp: context.completion.toISOString(),
    expiration: new Date(start.getTime() + ttlMs).toISOString(),
    progress: outcome?.progress ?? { itemsBackedUp: 0, totalItems: 0 },
    errors: results.errorCount,
    warnings: results.warningCount,
    consistency: outcome?.consistency ?? { mode: input.spec.consistency ?? 'snapshot' },
    locations,
    ...(volumes?.counts ? { podVolumeBackups: volumes.counts } : {}),
    ...(snapshotsAttempted > 0
      ? { csiVolumeSnapshotsAttempted: snapshotsAttempted, csiVolumeSnapshotsCompleted: snapshotsTaken }
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
}

/**
 * Commits the backup in each location, and returns it as the first location committed it. A failed
 * backup is recorded as Failed wherever its logs landed. Otherwise a location that lost a file gets no
 * metadata: its copy stays visibly incomplete, never a Completed one with missing parts. When no location
 * recorded the backup, nothing would name its snapshots, so they are deleted.
 */
async function commit(
  run: BackupRun,
  context: { status: BackupStatus; failureReason: string | undefined; takenSnapshots: TakenSnapshot[] },
): Promise<Backup> {
  const { input, start } = run;
  const { status, takenSnapshots } = context;
  const spec: BackupSpec = {
    ...input.spec,
    ttl: input.spec.ttl ?? DEFAULT_BACKUP_TTL,
    storageLocation: input.stores[0]?.location ?? '',
    storageLocations: input.stores.map((s) => s.location),
    consistency: input.spec.consistency ?? 'snapshot',
  };
  const { committed, failed } = await run.writer.commit({
    evenWhereFailed: context.failureReason !== undefined,
    backupFor: ({ location, encryption, checksums }) => ({
      apiVersion: VELERO_API_VERSION,
      kind: 'Backup',
      metadata: {
        name: input.name,
        uid: input.uid,
        labels: { ...input.labels, [LABELS.veleroStorageLocation]: location },
        creationTimestamp: start.toISOString(),
      },
      spec,
      status: { ...status, ...(encryption ? { encryption } : {}), checksums },
    }),
  });
  // The backup returned shares its location results with the status: a later commit's failure shows.
  for (const { location, reason } of failed) {
    const entry = status.locations?.find((l) => l.name === location);
    if (entry) Object.assign(entry, { phase: 'Failed', message: reason });
  }
  const result = committed[0];
  if (!result && takenSnapshots.length > 0) {
    const problems = await deleteSnapshots(
      input.client,
      takenSnapshots.map((t) => t.record),
    );
    for (const problem of problems) run.log({ level: 'error', message: problem });
  }
  return (
    result ?? {
      apiVersion: VELERO_API_VERSION,
      kind: 'Backup',
      metadata: { name: input.name, uid: input.uid, ...(input.labels ? { labels: input.labels } : {}) },
      spec,
      status: {
        ...status,
        phase: 'Failed',
        failureReason: status.failureReason ?? 'no location stored the backup',
      },
    }
  );
}
