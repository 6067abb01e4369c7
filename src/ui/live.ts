// Follows GET /ui/api/events: reads the Server-Sent Events with fetch (so the Authorization header can be
// sent, which EventSource cannot), hands each `change` to the app, and reconnects with a growing back-off
// when the stream ends or fails. No DOM, so Node's tests drive it against a local server.
import type { DashboardChange } from '../api/index.ts';
import { SseParser } from './sse.ts';

export type LiveStatus = 'connecting' | 'live' | 'retrying' | 'unauthorized';

export interface LiveOptions {
  url: string;
  headers: () => Record<string, string>;
  onChange: (change: DashboardChange) => void;
  /** Told whenever the connection's state changes; 'live' again after a reconnect means changes may have
   * been missed meanwhile, so the page should re-read what it shows. */
  onStatus: (status: LiveStatus) => void;
  signal: AbortSignal;
  /** First wait before reconnecting, doubled after each failure up to maxDelayMs. Default 1 s, 30 s. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  fetch?: typeof fetch;
}

/** The wait before reconnect attempt `attempt` (0 first): doubling, capped, with up to 20% jitter so that
 * many pages that lost one server do not all return at the same instant. */
export function reconnectDelay(
  attempt: number,
  options: { initialMs: number; maxMs: number; random?: () => number },
): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - 0.2 * (options.random ?? Math.random)()));
}

function isChange(value: unknown): value is DashboardChange {
  return (
    typeof value === 'object' &&
    value !== null &&
    'kind' in value &&
    typeof value.kind === 'string' &&
    'name' in value &&
    typeof value.name === 'string'
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Reads one connection until it ends: 'ended' when it had been established (answered 200). */
async function readOnce(
  options: LiveOptions,
  fetcher: typeof fetch,
): Promise<'ended' | 'refused' | 'unauthorized'> {
  const response = await fetcher(options.url, {
    headers: { accept: 'text/event-stream', ...options.headers() },
    signal: options.signal,
    cache: 'no-store',
  });
  if (response.status === 401 || !response.ok || !response.body) {
    await response.body?.cancel();
    return response.status === 401 ? 'unauthorized' : 'refused';
  }
  options.onStatus('live');
  const parser = new SseParser();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return 'ended';
    for (const event of parser.push(value)) {
      if (event.event !== 'change') continue;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        continue;
      }
      if (isChange(data)) options.onChange(data);
    }
  }
}

/** Follows the event stream until `signal` aborts. A 401 stops it (the app asks for a token, then starts
 * a new follower); every other end or failure is retried after reconnectDelay. */
export async function followEvents(options: LiveOptions): Promise<void> {
  const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  const initialMs = options.initialDelayMs ?? 1000;
  const maxMs = options.maxDelayMs ?? 30_000;
  let failures = 0;
  options.onStatus('connecting');
  while (!options.signal.aborted) {
    let outcome: 'ended' | 'refused' | 'unauthorized' | 'failed';
    try {
      outcome = await readOnce(options, fetcher);
    } catch {
      // A network error or a cut stream: retried like a stream that ended.
      outcome = 'failed';
    }
    if (options.signal.aborted) return;
    if (outcome === 'unauthorized') {
      options.onStatus('unauthorized');
      return;
    }
    // A stream that was established shows the server is there: the back-off starts afresh.
    failures = outcome === 'ended' ? 0 : failures + 1;
    options.onStatus('retrying');
    await sleep(reconnectDelay(failures, { initialMs, maxMs }), options.signal);
  }
}
