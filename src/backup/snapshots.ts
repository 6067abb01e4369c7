// The CSI snapshots of a backup (`snapshotVolumes: true`): which backed-up claims are snapshotted, and
// taking them at the right moment. A claim mounted by a backed-up pod is snapshotted between that pod's
// pre and post hooks (with its file-system backups), so that what a pre hook froze or flushed is what the
// snapshot holds; other claims after the pods. A claim whose files are backed up by file-system backup is
// not snapshotted too (as Velero does). volumes/csi-snapshots.ts takes each snapshot.
import { parseGoDuration, type BackupSpec, type Results } from '../api/index.ts';
import type { KubeClient, KubeObject } from '../kube/index.ts';
import {
  clusterIdOf,
  DEFAULT_CSI_SNAPSHOT_TIMEOUT_MS,
  labelledSnapshotClasses,
  snapshotTarget,
  takeSnapshot,
  type CsiSnapshotRecord,
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
    { claim: KubeObject; target: { volume: string; driver: string; className: string } }
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

  /**
   * Decides which claims are snapshotted: each backed-up claim whose volume a CSI driver provides and
   * whose driver has a class (the spec's for that driver, else the labelled one), unless `fsBackedUp`
   * has it. Every other claim is said in the log with the reason; one whose driver has no class is a
   * warning (snapshots were asked for).
   */
  static async plan(
    input: ClaimSnapshotsInput & { claims: readonly KubeObject[]; fsBackedUp: ReadonlySet<string> },
  ): Promise<ClaimSnapshots> {
    const snapshots = new ClaimSnapshots(input);
    snapshots.#clusterId = await clusterIdOf(input.client, input.signal);
    const classes = await labelledSnapshotClasses(input.client, input.signal);
    for (const [driver, className] of Object.entries(input.spec.csiSnapshotClasses ?? {}))
      classes.set(driver, className);
    for (const claim of input.claims) {
      const namespace = claim.metadata.namespace ?? '';
      const name = claim.metadata.name;
      if (input.fsBackedUp.has(key(namespace, name))) {
        input.log({
          level: 'info',
          message: `claim ${namespace}/${name}: not snapshotted: its files are backed up by file-system backup`,
          namespace,
        });
        continue;
      }
      const target = await snapshotTarget(input.client, claim, classes, input.signal);
      if ('skipped' in target) {
        const message = `claim ${namespace}/${name}: not snapshotted: ${target.skipped}`;
        if (target.skipped.startsWith('no VolumeSnapshotClass'))
          input.results.warning({ namespace }, message);
        input.log({
          level: target.skipped.startsWith('no VolumeSnapshotClass') ? 'warning' : 'info',
          message,
          namespace,
        });
        continue;
      }
      snapshots.#pending.set(key(namespace, name), { claim, target });
    }
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
    await this.#take(this.#claimsOfPod(pod));
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

  async #take(keys: readonly string[]): Promise<void> {
    const work = keys.flatMap((k) => {
      const pending = this.#pending.get(k);
      this.#pending.delete(k);
      return pending ? [pending] : [];
    });
    await Promise.all(
      work.map(async ({ claim, target }) => {
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

export interface ClaimSnapshotsInput {
  client: KubeClient;
  /** Where each snapshot taken is put. Default: a new array. */
  sink?: TakenSnapshot[] | undefined;
  spec: BackupSpec;
  backupName: string;
  backupUid: string;
  results: Results;
  log: (entry: LogEntry) => void;
  signal?: AbortSignal | undefined;
}
