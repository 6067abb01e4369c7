// The one back-off of the code base: requests to the API server (kube), to object stores (storage), keys
// of the controllers' work queues and their informers' lists and watches all wait by this formula.

export interface Backoff {
  /** The wait after the first failure; doubled after each further one. */
  baseDelayMs: number;
  /** The longest wait. */
  maxDelayMs: number;
  /**
   * Whether waits are spread between half and all of their ceiling, so that clients that failed together
   * do not try again together. Default true. The work queue waits exactly, like client-go's.
   */
  jitter?: boolean | undefined;
  /** A number in [0, 1) for the jitter; injectable for tests. Default Math.random. */
  random?: (() => number) | undefined;
}

export interface RetryOptions extends Backoff {
  /** Tries in all, the first included. */
  attempts: number;
}

/**
 * The wait after the `failures`-th failure in a row (1 for the first): min(maxDelayMs, baseDelayMs ×
 * 2^(failures − 1)), jittered unless `jitter` is false, in whole milliseconds. A server's hint (Retry-After)
 * wins when it is longer.
 */
export function backoffMs(failures: number, backoff: Backoff, serverHintMs?: number): number {
  const ceiling = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** Math.max(0, failures - 1));
  const random = backoff.random ?? Math.random;
  const wait = backoff.jitter === false ? ceiling : ceiling / 2 + (random() * ceiling) / 2;
  return Math.max(Math.round(wait), serverHintMs ?? 0);
}
