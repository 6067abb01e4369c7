// A small informer: the live state of one collection (one kind, in one namespace or in all), kept in
// memory by a list and then a watch, with a callback for every change.
//
// It lists page by page, then watches from the list's resourceVersion with bookmarks, so the revision
// keeps moving while nothing changes. When the server ends the watch (timeoutSeconds), or the connection
// breaks, it watches again from the last revision it saw; when that revision is gone (410,
// WatchExpiredError) or the watch fails otherwise, it lists again and reports what changed meanwhile as
// adds, updates and deletes. Errors never end it: it reports them through `log`, waits (1 s doubling to
// 30 s, reset by progress) and tries again, until the signal aborts.
// docs/controller.md.
import { backoffMs } from '../api/index.ts';
import {
  ClusterUnreachableError,
  KubeApiError,
  watch,
  WatchExpiredError,
  type KubeClient,
  type KubeList,
  type KubeObject,
} from '../kube/index.ts';
import { systemClock, type Clock } from './clock.ts';

export interface InformerHandlers<T extends KubeObject> {
  onAdd?: ((object: T) => void) | undefined;
  /** Only when the resourceVersion changed. */
  onUpdate?: ((oldObject: T, newObject: T) => void) | undefined;
  /** With the object's last state known (from the watch's DELETED event, or the cache after a relist). */
  onDelete?: ((object: T) => void) | undefined;
}

export interface InformerOptions<T extends KubeObject> extends InformerHandlers<T> {
  client: KubeClient;
  /**
   * The collection: `/apis/cairn.dev/v1/namespaces/<ns>/backups` for one namespace,
   * `/apis/cairn.dev/v1/backups` for all.
   */
  path: string;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Items per list page. Default 500. */
  pageSize?: number | undefined;
  /** How long the server keeps one watch open before the informer watches again. Default 300 s. */
  watchTimeoutSeconds?: number | undefined;
  /** The first wait after an error, doubled with each further error, jittered (backoffMs). Default 1 s. */
  minBackoffMs?: number | undefined;
  /** The longest wait after errors. Default 30 s. */
  maxBackoffMs?: number | undefined;
  clock?: Clock | undefined;
  /** Told of every error and relist; the informer itself never throws. */
  log?: ((message: string, error?: unknown) => void) | undefined;
}

/** The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects (as client-go's). */
export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}

/** Whether a failed watch is worth repeating from the same revision (as client-go's reflector decides). */
function isTransient(error: unknown): boolean {
  if (error instanceof ClusterUnreachableError) return true;
  return error instanceof KubeApiError && (error.status === 429 || error.status >= 500);
}

/** A watch that ends sooner than this with no event counts as a failure (it would spin otherwise). */
const shortWatchMs = 1000;

export class Informer<T extends KubeObject = KubeObject> {
  /** Resolves once the first list is in the cache and its onAdd calls are made; rejects if stopped before. */
  readonly hasSynced: Promise<void>;
  private readonly options: InformerOptions<T>;
  private readonly clock: Clock;
  private readonly cache = new Map<string, T>();
  private revision: string | undefined;
  private synced = false;
  private markSynced!: () => void;
  private failSync!: (reason: unknown) => void;
  private running = false;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.hasSynced = new Promise<void>((resolve, reject) => {
      this.markSynced = resolve;
      this.failSync = reject;
    });
    // Stopping before the first list must not be an unhandled rejection when nobody waits.
    this.hasSynced.catch(() => undefined);
  }

  /** The cached object of a key (objectKey), as of the last event. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.cache.values()];
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** The revision of the last list, watch event or bookmark. */
  get resourceVersion(): string | undefined {
    return this.revision;
  }

  /** Lists and watches until `signal` aborts; resolves then. Never rejects. Runs once per informer. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error(`the informer of ${this.options.path} runs already`);
    this.running = true;
    const minBackoffMs = this.options.minBackoffMs ?? 1000;
    const maxBackoffMs = this.options.maxBackoffMs ?? 30_000;
    let failures = 0;
    let mustList = true;
    const backOff = async (what: string, error: unknown) => {
      failures += 1;
      const delayMs = backoffMs(failures, { baseDelayMs: minBackoffMs, maxDelayMs: maxBackoffMs });
      this.log(`${what} ${this.options.path} failed; trying again in ${delayMs} ms`, error);
      await this.clock.sleep(delayMs, signal);
    };
    while (!signal.aborted) {
      if (mustList) {
        try {
          await this.relist(signal);
          mustList = false;
          failures = 0;
        } catch (error) {
          if (!signal.aborted) await backOff('listing', error);
        }
        continue;
      }
      const started = this.clock.now();
      let events = 0;
      try {
        for await (const event of watch<T>(this.options.client, this.options.path, {
          resourceVersion: this.revision,
          allowWatchBookmarks: true,
          timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
          signal,
        })) {
          if (event.type === 'ERROR')
            throw new Error(
              `the watch sent an error: ${event.object.code ?? '?'} ${event.object.message ?? ''}`,
            );
          events += 1;
          failures = 0;
          this.apply(event.type, event.object);
        }
        // The server ended the watch (timeoutSeconds): watch again from the last revision.
        if (events === 0 && this.clock.now() - started < shortWatchMs && !signal.aborted)
          await backOff('watching', new Error('the watch ended at once, with no event'));
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof WatchExpiredError) {
          this.log(`the revision ${this.revision ?? ''} of ${this.options.path} expired; listing again`);
          mustList = true;
        } else {
          // A broken connection or an overloaded server: watch again from the same revision. Anything
          // else (an ERROR event, a refused request) may concern the revision itself: list again.
          mustList = !isTransient(error);
          await backOff('watching', error);
        }
      }
    }
    this.failSync(new Error(`the informer of ${this.options.path} stopped before its first list`));
  }

  /** Lists every page, then reports the difference from the cache and replaces it. */
  private async relist(signal: AbortSignal): Promise<void> {
    const { client, path } = this.options;
    const fresh = new Map<string, T>();
    let token: string | undefined;
    let revision = '';
    do {
      const page = await client.json<KubeList>({
        path,
        signal,
        query: {
          limit: this.options.pageSize ?? 500,
          continue: token,
          labelSelector: this.options.labelSelector,
          fieldSelector: this.options.fieldSelector,
        },
      });
      // The API server leaves apiVersion and kind out of list items of built-in kinds.
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items) {
        item.apiVersion ??= page.apiVersion ?? '';
        if (kind !== undefined) item.kind ??= kind;
        fresh.set(objectKey(item), item as T);
      }
      revision = page.metadata.resourceVersion ?? revision;
      token = page.metadata.continue || undefined;
    } while (token !== undefined);

    const old = new Map(this.cache);
    this.cache.clear();
    for (const [key, object] of fresh) this.cache.set(key, object);
    this.revision = revision;
    for (const [key, object] of fresh) {
      const before = old.get(key);
      if (before === undefined) this.call('onAdd', () => this.options.onAdd?.(object));
      else if (before.metadata.resourceVersion !== object.metadata.resourceVersion)
        this.call('onUpdate', () => this.options.onUpdate?.(before, object));
    }
    for (const [key, object] of old)
      if (!fresh.has(key)) this.call('onDelete', () => this.options.onDelete?.(object));
    if (!this.synced) {
      this.synced = true;
      this.markSynced();
    }
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK', object: T): void {
    const revision = object.metadata.resourceVersion;
    if (revision) this.revision = revision;
    if (type === 'BOOKMARK') return;
    const key = objectKey(object);
    const before = this.cache.get(key);
    if (type === 'DELETED') {
      this.cache.delete(key);
      this.call('onDelete', () => this.options.onDelete?.(object));
      return;
    }
    this.cache.set(key, object);
    if (before === undefined) this.call('onAdd', () => this.options.onAdd?.(object));
    else if (before.metadata.resourceVersion !== revision)
      this.call('onUpdate', () => this.options.onUpdate?.(before, object));
  }

  /** Calls a handler; one that throws is reported and does not stop the informer. */
  private call(name: string, handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.log(`the ${name} handler of ${this.options.path} failed`, error);
    }
  }

  private log(message: string, error?: unknown): void {
    this.options.log?.(message, error);
  }
}
