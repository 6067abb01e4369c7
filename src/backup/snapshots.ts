// The CSI snapshots of a backup: which backed-up claims are snapshotted (a volume policy rule, or
// `snapshotVolumes: true`; volumes/volume-decisions.ts decides), and taking them at the right moment. A claim mounted by a backed-up pod is snapshotted between that pod's
// pre and post hooks (with its file-system backups), so that what a pre hook froze or flushed is what the
// snapshot holds; other claims after the pods. A claim whose files are backed up by file-system backup is
// not snapshotted too (as Velero does). volumes/csi-snapshots.ts takes each snapshot.
import {
  parseGoDuration,
  type BackupSpec,
  type PodVolumeBackup,
  type Results,
  type VolumePolicy,
} from '../api/index.ts';
import type { KubeClient, KubeObject } from '../kube/index.ts';
import {
  asPodVolume,
  clusterIdOf,
  decideClaims,
  decisionLine,
  deleteSnapshots,
  exposeSnapshot,
  moveRecords,
  DEFAULT_CSI_SNAPSHOT_TIMEOUT_MS,
  labelledSnapshotClasses,
  MOVED,
  takeSnapshot,
  policySnapshots,
  snapshotsAskedFor,
  type ClaimReader,
  type CsiSnapshotRecord,
  type ExposedSnapshot,
  type FsChosenClaim,
  type PodVolumeBackupRunner,
  type VolumeDecision,
} from '../volumes/index.ts';
import type { LogEntry } from './engine.ts';

export interface TakenSnapshot {
  record: CsiSnapshotRecord;
  snapshot: KubeObject;
  content: KubeObject;
}

const key = (namespace: string, claim: string) => `${namespace}/${claim}`;

/** The claims a pod mounts, by name. */
function claimsOf(pod: KubeObject): string[] {
  const volumes =
    (pod.spec as { volumes?: { persistentVolumeClaim?: { claimName?: string } }[] } | undefined)?.volumes ??
    [];
  return volumes.flatMap((v) =>
    v.persistentVolumeClaim?.claimName ? [v.persistentVolumeClaim.claimName] : [],
  );
}

export class ClaimSnapshots {
  /** The snapshots taken, in the array given (the caller's: it outlives a failure of this stage). */
  readonly taken: TakenSnapshot[];
  /** Claims whose snapshot failed, with the message (each is an error of the backup). */
  readonly failed: { namespace: string; claim: string; message: string }[] = [];
  readonly #pending = new Map<
    string,
    { claim: KubeObject; target: { volume: string; driver: string; className: string }; move: boolean }
  >();
  readonly #input: ClaimSnapshotsInput;
  readonly #timeoutMs: number;
  #clusterId: string | undefined;

  private constructor(input: ClaimSnapshotsInput) {
    this.#input = input;
    this.taken = input.sink ?? [];
    this.#timeoutMs =
      (input.spec.csiSnapshotTimeout !== undefined && parseGoDuration(input.spec.csiSnapshotTimeout)) ||
      DEFAULT_CSI_SNAPSHOT_TIMEOUT_MS;
  }

  /** What was decided for every claim: its action, and what chose it (volume-decisions.ts). */
  decisions: VolumeDecision[] = [];

  /**
   * Decides how each backed-up claim's data is backed up (decideClaims: file-system backup by a pod's
   * volume, else the volume policy's first matching rule, else snapshotVolumes) and keeps those to
   * snapshot. Every claim's fate is said in the log; one that cannot be snapshotted although a snapshot
   * was chosen is a warning.
   */
  static async plan(
    input: ClaimSnapshotsInput & {
      claims: readonly KubeObject[];
      fsChosen: ReadonlyMap<string, FsChosenClaim>;
      policy: VolumePolicy | undefined;
      reader: ClaimReader;
    },
  ): Promise<ClaimSnapshots> {
    const snapshots = new ClaimSnapshots(input);
    const wanted = policySnapshots(input.policy) || snapshotsAskedFor(input.spec).snapshotVolumes;
    const classes = wanted
      ? await labelledSnapshotClasses(input.client, input.signal)
      : new Map<string, string>();
    for (const [driver, className] of Object.entries(input.spec.csiSnapshotClasses ?? {}))
      classes.set(driver, className);
    const decided = await decideClaims({
      client: input.client,
      reader: input.reader,
      claims: input.claims,
      fsChosen: input.fsChosen,
      policy: input.policy,
      ...snapshotsAskedFor(input.spec),
      snapshotMoveData: input.spec.snapshotMoveData === true,
      classes,
      signal: input.signal,
    });
    snapshots.decisions = decided.decisions;
    for (const warning of decided.warnings) {
      input.results.warning({ namespace: warning.namespace }, warning.message);
      input.log({ level: 'warning', message: warning.message, namespace: warning.namespace });
    }
    for (const decision of decided.decisions)
      input.log({ level: 'info', message: decisionLine(decision), namespace: decision.namespace });
    if (decided.toSnapshot.length > 0) snapshots.#clusterId = await clusterIdOf(input.client, input.signal);
    for (const { claim, target, move } of decided.toSnapshot)
      snapshots.#pending.set(key(claim.metadata.namespace ?? '', claim.metadata.name), {
        claim,
        target,
        move,
      });
    return snapshots;
  }

  /** Whether the pod mounts a claim still to be snapshotted. */
  hasClaimsOf(pod: KubeObject): boolean {
    return this.#claimsOfPod(pod).length > 0;
  }

  /** How many claims are still to be snapshotted. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Snapshots the claims the pod mounts that are not taken yet (a claim two pods mount: with the first). */
  async forPod(pod: KubeObject): Promise<void> {
    await this.#take(this.#claimsOfPod(pod), pod);
  }

  /** The pod's claims are not snapshotted: its pre hook failed. */
  failForPod(pod: KubeObject, message: string): void {
    for (const k of this.#claimsOfPod(pod)) {
      const pending = this.#pending.get(k);
      if (!pending) continue;
      this.#pending.delete(k);
      this.#fail(pending.claim, `not snapshotted: ${message}`);
    }
  }

  /** Snapshots the claims no pod took. */
  async rest(): Promise<void> {
    await this.#take([...this.#pending.keys()]);
  }

  #claimsOfPod(pod: KubeObject): string[] {
    const namespace = pod.metadata.namespace ?? '';
    return claimsOf(pod)
      .map((claim) => key(namespace, claim))
      .filter((k) => this.#pending.has(k));
  }

  #fail(claim: KubeObject, message: string): void {
    const namespace = claim.metadata.namespace ?? '';
    this.failed.push({ namespace, claim: claim.metadata.name, message });
    this.#input.results.error({ namespace }, `claim ${claim.metadata.name}: ${message}`);
    this.#input.log({
      level: 'error',
      message: `claim ${namespace}/${claim.metadata.name}: ${message}`,
      namespace,
    });
  }

  /** Snapshots whose data is to be moved (snapshotMoveData), each with the backed-up pod that mounts it. */
  readonly #toMove: { taken: TakenSnapshot; claim: KubeObject; pod: KubeObject; volume: string }[] = [];
  /** How many snapshots had their data moved (and were deleted). */
  moved = 0;
  /** The moves tried, done and failed, and the bytes read (every location's). */
  readonly moves = { attempted: 0, completed: 0, failed: 0, bytes: 0, seconds: 0 };

  /**
   * Moves the data of the snapshots taken with a backed-up running pod into the repositories
   * (data-mover.ts), a snapshot at a time, after every pod's hooks have run: each one's records (naming
   * that pod), the temporary objects removed, then the snapshot deleted. A move that fails keeps the
   * snapshot (an error of the backup; the snapshot is still the claim's backup). `signal` bounds the moves
   * (the backup's fsBackupTimeout). Resolves with the records, for the backup's pod volume records.
   */
  async moveData(signal?: AbortSignal): Promise<PodVolumeBackup[]> {
    const move = this.#input.move;
    if (!move) return [];
    const out: PodVolumeBackup[] = [];
    for (const item of this.#toMove.splice(0)) {
      const { record } = item.taken;
      const namespace = record.namespace;
      const what = `claim ${namespace}/${record.claim}`;
      const decision = this.decisions.find((d) => d.namespace === namespace && d.claim === record.claim);
      const kept = (why: string) => {
        if (decision)
          decision.detail = (decision.detail ?? '').replace(
            MOVED,
            `its data was not moved (${why}): kept as a CSI snapshot`,
          );
      };
      let exposed: ExposedSnapshot | undefined;
      let finished: PodVolumeBackup[];
      this.moves.attempted++;
      const started = performance.now();
      const took = () => (this.moves.seconds += Math.round(performance.now() - started) / 1000);
      try {
        exposed = await exposeSnapshot({
          client: this.#input.client,
          record,
          claim: item.claim,
          backupName: this.#input.backupName,
          backupUid: this.#input.backupUid,
          image: move.image,
          imagePullPolicy: move.imagePullPolicy,
          timeoutMs: move.timeoutMs,
          signal,
        });
        finished = await move.runner.run(
          moveRecords({
            exposed,
            record,
            backupName: this.#input.backupName,
            backupUid: this.#input.backupUid,
            locations: move.locations,
          }),
          { signal },
        );
        signal?.throwIfAborted();
      } catch (error) {
        if (this.#input.signal?.aborted) throw error;
        this.moves.failed++;
        const reason = signal?.aborted
          ? "the backup's fsBackupTimeout passed"
          : (error as Error).message.replace(`${what}: `, '');
        kept(reason);
        took();
        const message = `its snapshot's data was not moved: ${reason}; the snapshot is kept`;
        this.#input.results.error({ namespace }, `claim ${record.claim}: ${message}`);
        this.#input.log({ level: 'error', message: `${what}: ${message}`, namespace });
        await this.#remove(exposed, what, namespace);
        continue;
      }
      const pod = {
        namespace,
        name: item.pod.metadata.name,
        uid: item.pod.metadata.uid ?? '',
        volume: item.volume,
      };
      out.push(...finished.map((r) => asPodVolume(r, pod, move.locations[0] ?? '')));
      this.moves.bytes += finished.reduce((n, r) => n + (r.status?.bytes ?? 0), 0);
      took();
      // The temporary claim was made from the snapshot: it goes before the snapshot does.
      await this.#remove(exposed, what, namespace);
      const failed = finished.find((r) => r.status?.phase !== 'Completed');
      if (failed || finished.length === 0) {
        // Its failed records are errors of the backup (with the pod volumes').
        this.moves.failed++;
        kept(failed?.status?.message ?? 'nothing ran');
        this.#input.log({
          level: 'error',
          message: `${what}: its snapshot's data was not moved (${failed?.status?.message ?? 'nothing ran'}): the snapshot is kept`,
          namespace,
        });
        continue;
      }
      this.moves.completed++;
      const problems = await deleteSnapshots(this.#input.client, [record]);
      if (problems.length > 0) {
        this.#input.results.warning({ namespace }, `${what}: its data was moved; ${problems.join('; ')}`);
        continue;
      }
      this.taken.splice(this.taken.indexOf(item.taken), 1);
      this.moved++;
      this.#input.log({
        level: 'info',
        message: `${what}: the data of snapshot ${record.snapshotHandle} was moved into the repository (snapshot ${finished[0]?.status?.snapshotID?.slice(0, 8) ?? '?'}), and the CSI snapshot deleted`,
        namespace,
      });
    }
    return out;
  }

  /** Removes what exposing a snapshot made; what cannot be is a warning naming the claim. */
  async #remove(exposed: ExposedSnapshot | undefined, what: string, namespace: string): Promise<void> {
    await exposed
      ?.remove()
      .catch((error: unknown) =>
        this.#input.results.warning(
          { namespace },
          `${what}: the data mover's objects were not all deleted: ${(error as Error).message}`,
        ),
      );
  }

  /** A backed-up running pod that mounts the claim (`first` when it is one), and its volume's name. */
  #runningMounter(
    claim: KubeObject,
    first: KubeObject | undefined,
  ): { pod: KubeObject; volume: string } | undefined {
    const namespace = claim.metadata.namespace ?? '';
    for (const pod of [...(first ? [first] : []), ...(this.#input.pods ?? [])]) {
      if ((pod.metadata.namespace ?? '') !== namespace) continue;
      if ((pod.status as { phase?: string } | undefined)?.phase !== 'Running') continue;
      const volume = podVolumeOfClaim(pod, claim.metadata.name);
      if (volume) return { pod, volume };
    }
    return undefined;
  }

  async #take(keys: readonly string[], pod?: KubeObject): Promise<void> {
    const work = keys.flatMap((k) => {
      const pending = this.#pending.get(k);
      this.#pending.delete(k);
      return pending ? [pending] : [];
    });
    await Promise.all(
      work.map(async ({ claim, target, move }) => {
        const namespace = claim.metadata.namespace ?? '';
        try {
          const taken = await takeSnapshot({
            client: this.#input.client,
            claim,
            target,
            backupName: this.#input.backupName,
            backupUid: this.#input.backupUid,
            timeoutMs: this.#timeoutMs,
            clusterId: this.#clusterId,
            signal: this.#input.signal,
          });
          this.taken.push(taken);
          if (move) {
            // Moved through a backed-up running pod that mounts the claim (a restore fills it through that
            // pod); without one, for a block-mode claim, or without a node agent, the snapshot is kept.
            const mounter = this.#runningMounter(claim, pod);
            const decision = this.decisions.find(
              (d) => d.namespace === namespace && d.claim === claim.metadata.name,
            );
            const kept = !this.#input.move
              ? 'kept as a CSI snapshot: no node agent moves data here'
              : (claim.spec as { volumeMode?: string } | undefined)?.volumeMode === 'Block'
                ? 'kept as a CSI snapshot: a block-mode claim has no files to move'
                : !mounter
                  ? 'kept as a CSI snapshot: no backed-up running pod mounts the claim, to restore moved data through'
                  : undefined;
            if (!kept && mounter) this.#toMove.push({ taken, claim, ...mounter });
            else if (decision && kept) decision.detail = (decision.detail ?? '').replace(MOVED, kept);
          }
          this.#input.log({
            level: 'info',
            message: `claim ${namespace}/${claim.metadata.name}: snapshot ${taken.record.snapshotHandle} (VolumeSnapshotContent ${taken.record.contentName}, class ${target.className})`,
            namespace,
          });
        } catch (error) {
          if (this.#input.signal?.aborted) throw error;
          this.#fail(
            claim,
            (error as Error).message.replace(`claim ${namespace}/${claim.metadata.name}: `, ''),
          );
        }
      }),
    );
  }
}

/** The name of the pod's volume that mounts the claim. */
function podVolumeOfClaim(pod: KubeObject, claim: string): string | undefined {
  const volumes =
    (pod.spec as { volumes?: { name: string; persistentVolumeClaim?: { claimName?: string } }[] } | undefined)
      ?.volumes ?? [];
  return volumes.find((v) => v.persistentVolumeClaim?.claimName === claim)?.name;
}

export interface ClaimSnapshotsInput {
  client: KubeClient;
  /** The backed-up pods: a snapshot's data is moved through a running one that mounts its claim. */
  pods?: readonly KubeObject[] | undefined;
  /** snapshotMoveData: how each snapshot's data is moved into the repositories. */
  move?:
    | {
        runner: PodVolumeBackupRunner;
        locations: readonly string[];
        image: string;
        imagePullPolicy?: string | undefined;
        timeoutMs: number;
      }
    | undefined;
  /** Where each snapshot taken is put. Default: a new array. */
  sink?: TakenSnapshot[] | undefined;
  spec: BackupSpec;
  backupName: string;
  backupUid: string;
  results: Results;
  log: (entry: LogEntry) => void;
  signal?: AbortSignal | undefined;
}
