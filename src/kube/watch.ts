// Watches: the API server's stream of changes to a collection, from a resourceVersion on.
//
// The server answers `?watch=true` with one JSON event a line: {"type":"ADDED","object":{...}}. Events
// may be split across chunks, and one chunk may hold several. A watch from a revision the server no
// longer keeps fails with 410 Gone, either as the answer's status or as an ERROR event carrying a
// Status; both become WatchExpiredError, which tells the caller to list again.
import { StringDecoder } from 'node:string_decoder';
import type { IncomingMessage } from 'node:http';
import type { KubeClient } from './client.ts';
import { ClusterUnreachableError, KubeApiError } from './errors.ts';
import type { KubeObject } from './object.ts';

/** The Status object an ERROR event carries. */
export interface WatchStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

export type WatchEvent<T extends KubeObject = KubeObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  /** Only metadata.resourceVersion is meaningful: the watch has seen everything up to it. */
  | { type: 'BOOKMARK'; object: T }
  /** An error other than 410 (which throws WatchExpiredError instead). */
  | { type: 'ERROR'; object: WatchStatus };

export interface WatchOptions {
  /** Changes after this revision; the server's current state as ADDED events first when absent. */
  resourceVersion?: string | undefined;
  /** Ask for BOOKMARK events, so the caller's revision moves on while nothing changes. */
  allowWatchBookmarks?: boolean | undefined;
  /**
   * The server ends the watch after this long. Should it not (a connection that died silently), the
   * client ends it `timeoutSeconds + 30` seconds after it started.
   */
  timeoutSeconds?: number | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  signal?: AbortSignal | undefined;
}

/** The revision a watch started from is gone (compacted): list again, then watch from the list's. */
export class WatchExpiredError extends Error {
  override readonly name = 'WatchExpiredError';
  readonly path: string;
  readonly resourceVersion: string | undefined;
  /** The server's message. */
  readonly detail: string;
  constructor(
    path: string,
    resourceVersion: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`watch ${path} from revision ${resourceVersion ?? '(none)'} expired: ${detail}`, options);
    this.path = path;
    this.resourceVersion = resourceVersion;
    this.detail = detail;
  }
}

/** How long after timeoutSeconds the client gives up on a server that has not ended the watch. */
const clientGraceSeconds = 30;

const eventTypes = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

function parseEvent(line: string): { type: string; object: unknown } {
  const event = JSON.parse(line) as { type?: unknown; object?: unknown };
  if (typeof event.type !== 'string' || !eventTypes.has(event.type) || typeof event.object !== 'object')
    throw new SyntaxError(`not a watch event: ${line.slice(0, 200)}`);
  return { type: event.type, object: event.object };
}

/**
 * The events of a watch on a collection path (`/api/v1/namespaces/shop/configmaps`,
 * `/apis/cairn.dev/v1/backups`), until the server ends the stream (timeoutSeconds) or the caller stops
 * reading or aborts. Throws WatchExpiredError on 410, KubeApiError on another error status,
 * ClusterUnreachableError when the connection breaks, and the abort reason when `signal` aborts.
 */
export async function* watch<T extends KubeObject = KubeObject>(
  client: KubeClient,
  path: string,
  options: WatchOptions = {},
): AsyncGenerator<WatchEvent<T>> {
  const expired = (detail: string, cause?: unknown) =>
    new WatchExpiredError(path, options.resourceVersion, detail, cause === undefined ? {} : { cause });
  // The client-side deadline, in case the server never ends the stream.
  const deadline = new AbortController();
  const timer =
    options.timeoutSeconds === undefined
      ? undefined
      : setTimeout(() => deadline.abort(), (options.timeoutSeconds + clientGraceSeconds) * 1000);
  timer?.unref();
  const signal = options.signal ? AbortSignal.any([options.signal, deadline.signal]) : deadline.signal;
  /** Whether an error only means that the client-side deadline ended the watch. */
  const deadlineEnded = () => deadline.signal.aborted && options.signal?.aborted !== true;

  let res: IncomingMessage;
  try {
    res = await client.stream({
      path,
      signal,
      query: {
        watch: 'true',
        resourceVersion: options.resourceVersion,
        allowWatchBookmarks: options.allowWatchBookmarks ? 'true' : undefined,
        timeoutSeconds: options.timeoutSeconds,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
    });
  } catch (error) {
    clearTimeout(timer);
    if (error instanceof KubeApiError && error.status === 410) throw expired(error.detail, error);
    if (deadlineEnded()) return;
    throw error;
  }

  /** The event of one line; a 410 ERROR event throws WatchExpiredError. */
  const eventOf = (line: string): WatchEvent<T> => {
    const event = parseEvent(line);
    if (event.type === 'ERROR') {
      const status = event.object as WatchStatus;
      if (status.code === 410) throw expired(status.message ?? 'no message');
    }
    return event as WatchEvent<T>;
  };
  try {
    const decoder = new StringDecoder('utf8');
    let buffered = '';
    for await (const chunk of res as AsyncIterable<Buffer>) {
      // Look for the end of a line in the new text only: one event may span many chunks.
      const from = buffered.length;
      buffered += decoder.write(chunk);
      for (let newline = buffered.indexOf('\n', from); newline !== -1; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield eventOf(line);
      }
    }
    const tail = (buffered + decoder.end()).trim();
    if (tail !== '') yield eventOf(tail);
  } catch (error) {
    if (error instanceof WatchExpiredError || error instanceof SyntaxError) throw error;
    if (deadlineEnded()) return;
    if (options.signal?.aborted) {
      const reason: unknown = options.signal.reason;
      throw reason instanceof Error ? reason : error;
    }
    throw new ClusterUnreachableError(client.server, { cause: error });
  } finally {
    clearTimeout(timer);
    res.destroy();
  }
}
