// What the parts of one restore share (Velero's restoreContext): the input, the target cluster's discovery
// as last read (definitions.ts reads it again), the recorder, and the clock every deadline is measured on
// and every wait sleeps by: the injected one, or the machine's.
import { systemClock } from '../api/index.ts';
import {
  KubeApiError,
  collectionPath,
  type ApiResource,
  type KubeClient,
  type KubeObject,
  type ResourceMapper,
} from '../kube/index.ts';
import { PermissionCheck, type AccessRequest } from './permissions.ts';
import type { Recorder } from './recorder.ts';
import type { RestoreEngineInput, RestoreLogEntry } from './types.ts';

/** What an error says, for a plan entry or a log line. */
export const message = (error: unknown) =>
  error instanceof KubeApiError ? error.detail : error instanceof Error ? error.message : String(error);

export class RestoreContext {
  readonly input: RestoreEngineInput;
  readonly recorder: Recorder;
  readonly client: KubeClient;
  readonly dryRun: boolean;
  readonly signal: AbortSignal | undefined;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** The target cluster's discovery: read again once restored definitions are served. */
  mapper: ResourceMapper;
  private readonly permissions: PermissionCheck | undefined;

  constructor(input: RestoreEngineInput, recorder: Recorder) {
    this.input = input;
    this.recorder = recorder;
    this.client = input.client;
    this.dryRun = input.dryRun;
    this.signal = input.signal;
    this.now = input.now ?? (() => systemClock.now());
    this.sleep = input.sleep ?? ((ms) => systemClock.sleep(ms, input.signal));
    this.mapper = input.mapper;
    this.permissions = input.permissions ? new PermissionCheck(input.permissions) : undefined;
  }

  /**
   * Why the Restore's creator may not do what `request` asks (server mode's tenant-safe restore), or
   * undefined when they may, or when the restore is not checked (standalone mode).
   */
  refusal(request: AccessRequest): Promise<string | undefined> {
    return this.permissions?.refusal(request, this.signal) ?? Promise.resolve(undefined);
  }

  log(entry: RestoreLogEntry): void {
    this.recorder.log(entry);
  }

  /** The live object of that name, or undefined when there is none. */
  async readLive(
    resource: ApiResource,
    namespace: string | undefined,
    name: string,
  ): Promise<KubeObject | undefined> {
    try {
      return await this.client.json<KubeObject>({
        path: `${collectionPath(resource, namespace)}/${encodeURIComponent(name)}`,
        signal: this.signal,
      });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** The time `ms` from now, on the restore's clock. */
  deadline(ms: number): number {
    return this.now() + ms;
  }

  /**
   * Checks `done` every `everyMs` until it holds (true) or `deadline` has passed (false, after one last
   * check). An abort ends the wait with the abort's error.
   */
  async waitUntil(done: () => Promise<boolean>, deadline: number, everyMs: number): Promise<boolean> {
    for (;;) {
      this.signal?.throwIfAborted();
      if (await done()) return true;
      if (this.now() > deadline) return false;
      await this.sleep(everyMs);
    }
  }
}
