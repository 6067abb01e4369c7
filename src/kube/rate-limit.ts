// A token bucket, as client-go's: `qps` tokens a second, at most `burst` saved up. Every request to the
// API server takes one token, so a backup of 10,000 objects cannot flood the control plane.
import { setTimeout as sleepFor } from 'node:timers/promises';

export interface RateLimiterOptions {
  /** Sustained requests per second; 0 or Infinity disables limiting. */
  qps: number;
  /** Requests that may go at once after a quiet period. */
  burst: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: RateLimiterOptions) {
    if (!(options.qps >= 0)) throw new RangeError(`qps must be 0 or more, got ${options.qps}`);
    if (!(options.burst >= 1)) throw new RangeError(`burst must be 1 or more, got ${options.burst}`);
    this.qps = options.qps;
    this.burst = options.burst;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal ? { signal } : {}));
    this.tokens = options.burst;
    this.last = this.now();
  }

  /** Waits until a token is free and takes it. Tokens are reserved in call order. */
  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.qps === 0 || this.qps === Infinity) return;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    if (this.tokens >= 0) return;
    // In debt: wait until the debt is paid. Later callers wait behind it.
    await this.sleep((-this.tokens * 1000) / this.qps, signal);
  }
}
