// Which failed requests are worth repeating, and how long to wait before the next try.
import type { RetryOptions } from '../api/index.ts';
import { ClusterUnreachableError } from './errors.ts';

export const defaultRetry: RetryOptions = { attempts: 6, baseDelayMs: 200, maxDelayMs: 10_000 };

const transientCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/** The error code of a connection failure, looking through causes. */
function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && transientCodes.has(code)) return code;
  }
  return undefined;
}

const idempotent = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/**
 * Whether a request should be repeated. 429 and 503 mean the server did not process it, so any method
 * may be repeated; other 5xx answers and dropped connections may have been processed, so only
 * idempotent methods are. A refused connection never reached the server.
 */
export function isRetryable(method: string, outcome: { status: number } | { error: unknown }): boolean {
  if ('status' in outcome) {
    if (outcome.status === 429 || outcome.status === 503) return true;
    return (
      idempotent.has(method) && (outcome.status === 500 || outcome.status === 502 || outcome.status === 504)
    );
  }
  if (!(outcome.error instanceof ClusterUnreachableError)) return false;
  const code = networkCode(outcome.error);
  if (code === 'ECONNREFUSED') return true;
  return code !== undefined && idempotent.has(method);
}

/** Seconds from a Retry-After header (delta-seconds form; the API server sends that form). */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim()) * 1000;
}
