// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules and timings, so that of
// several replicas of the server exactly one runs the controllers.
//
// - A replica takes the lease when it does not exist, when its holder is empty (released), or when it
//   has not changed for leaseDurationSeconds as measured on this replica's clock since it last saw it
//   change. Like client-go, the replica does not compare the holder's renewTime with its own clock:
//   clocks of different machines disagree, the time since a change seen locally does not.
// - The leader renews every retryPeriod. When it cannot renew within renewDeadline, it stops leading
//   at once (onStoppedLeading), before the lease can expire and another replica take it.
// - Every write carries the resourceVersion last read: of two replicas writing at once, one gets 409.
// - Stopping (the signal) ends the leader's work first (the signal given to onStartedLeading aborts),
//   keeps renewing until that work has returned, then releases the lease (empty holder, 1 s duration,
//   as client-go's ReleaseOnCancel does), so that another replica takes over at its next try.
// docs/controller.md.
import { setMaxListeners } from 'node:events';
import type { KubeClient } from '../kube/index.ts';
import { deadlineSignal, systemClock, type Clock } from './clock.ts';
import {
  KubeLeaseStore,
  LeaseConflictError,
  type LeaseSpec,
  type LeaseStore,
  type StoredLease,
} from './lease-store.ts';

export interface LeaderElectionOptions {
  /** The API server that keeps the Lease namespace/name; or `store`. */
  client?: KubeClient | undefined;
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** Where the lease is kept, instead of the API server of `client`. */
  store?: LeaseStore | undefined;
  /** This replica's name in the lease; unique among replicas (the caller uses `<hostname>_<pid>`). */
  identity: string;
  /** How long a lease not renewed stays taken. Whole seconds. Default 15 s. */
  leaseDurationMs?: number | undefined;
  /** How long the leader keeps trying to renew before it gives up leading. Default 10 s. */
  renewDeadlineMs?: number | undefined;
  /** The interval of tries to take and to renew the lease. Default 2 s. */
  retryPeriodMs?: number | undefined;
  /** Release the lease when the signal stops a leader. Default true; false leaves it to expire. */
  releaseOnCancel?: boolean | undefined;
  /**
   * Called on becoming leader. `signal` aborts when leadership ends (lost, or stopping); the work must
   * stop then. Stopping waits for the promise this returns before releasing the lease. When the promise
   * settles while still leading (the work ended or failed by itself), the replica stops leading as if
   * the signal had aborted, and the election ends.
   */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called once leadership has ended: at once when lost, after the release when stopping. */
  onStoppedLeading?: (() => void) | undefined;
  /** Called whenever the holder this replica sees changes (itself included). */
  onNewLeader?: ((identity: string) => void) | undefined;
  /** Stops the election: a leader finishes its work and releases the lease. */
  signal: AbortSignal;
  clock?: Clock | undefined;
  /** A number in [0, 1) for the jitter of tries to take the lease. */
  random?: (() => number) | undefined;
  log?: ((message: string, error?: unknown) => void) | undefined;
}

export interface LeaderElectionResult {
  /** Whether this replica led (onStartedLeading was called). */
  led: boolean;
  /** Why the election ended: the signal aborted, or the lease could not be renewed in time. */
  end: 'stopped' | 'lost';
}

export const defaultLeaseDurationMs = 15_000;
export const defaultRenewDeadlineMs = 10_000;
export const defaultRetryPeriodMs = 2_000;
/** Tries to take the lease wait retryPeriod × (1 + up to 1.2), as client-go's JitterFactor. */
const jitterFactor = 1.2;

/** A MicroTime: RFC 3339 with six fractional digits, which the API server requires. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

type ElectorOptions = LeaderElectionOptions & { leaseDurationMs: number; clock: Clock; store: LeaseStore };

/** One replica's view of the lease and its writes to it: client-go's LeaderElector. */
class Elector {
  /** The lease as last read or written (its resourceVersion guards the next write). */
  private lease: StoredLease | undefined;
  /** The spec last seen, and when (on our clock) it was seen to change. */
  private observed: LeaseSpec = {};
  private observedAt = 0;
  private observedRaw = '';
  private reportedLeader: string | undefined;

  private readonly options: ElectorOptions;
  constructor(options: ElectorOptions) {
    this.options = options;
  }

  private get where(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  isLeader(): boolean {
    return this.observed.holderIdentity === this.options.identity;
  }

  /** Whether the lease seen is still taken: it changed less than its duration ago. */
  private leaseValid(now: number): boolean {
    return this.observedAt + (this.observed.leaseDurationSeconds ?? 0) * 1000 > now;
  }

  private observe(spec: LeaseSpec, raw = JSON.stringify(spec)): void {
    this.observed = spec;
    this.observedRaw = raw;
    this.observedAt = this.options.clock.now();
    const holder = spec.holderIdentity ?? '';
    if (holder !== '' && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      try {
        this.options.onNewLeader?.(holder);
      } catch (error) {
        this.options.log?.('the onNewLeader handler failed', error);
      }
    }
  }

  /** Writes the spec over the lease last read or written, and observes what the store kept. */
  private async write(spec: LeaseSpec, signal: AbortSignal): Promise<void> {
    if (!this.lease) throw new Error('the lease was never read');
    this.lease = await this.options.store.update(this.lease.resourceVersion, spec, signal);
    this.observe(this.lease.spec);
  }

  /** One try to take or renew the lease; true when this replica holds it now. Never throws. */
  async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = this.options.clock.now();
    const mine: LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.round(this.options.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    // The leader renews on top of the lease it wrote last, without reading it first.
    if (this.isLeader() && this.leaseValid(now) && this.lease) {
      const renewed = {
        ...mine,
        acquireTime: this.observed.acquireTime,
        leaseTransitions: this.observed.leaseTransitions,
      };
      try {
        await this.write(renewed, signal);
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        this.options.log?.('renewing the lease optimistically failed; reading it again', error);
      }
    }

    const { store } = this.options;
    let read: StoredLease | undefined;
    try {
      read = await store.get(signal);
    } catch (error) {
      this.options.log?.(`reading the lease ${this.where} failed`, error);
      return false;
    }
    if (!read) {
      try {
        this.lease = await store.create(mine, signal);
        this.observe(this.lease.spec);
        return true;
      } catch (createError) {
        this.options.log?.(`creating the lease ${this.where} failed`, createError);
        return false;
      }
    }
    this.lease = read;

    const current = read.spec;
    const raw = JSON.stringify(current);
    if (raw !== this.observedRaw) this.observe(current, raw);
    if ((current.holderIdentity ?? '') !== '' && this.leaseValid(now) && !this.isLeader()) return false;

    const next = this.isLeader()
      ? { ...mine, acquireTime: current.acquireTime, leaseTransitions: current.leaseTransitions ?? 0 }
      : { ...mine, leaseTransitions: (current.leaseTransitions ?? 0) + 1 };
    try {
      await this.write(next, signal);
      return true;
    } catch (error) {
      if (!signal.aborted) this.options.log?.(`taking the lease ${this.where} failed`, error);
      return false;
    }
  }

  /** Hands the lease back: empty holder, a 1 s duration. */
  async release(signal: AbortSignal): Promise<void> {
    if (!this.isLeader()) return;
    const now = microTime(this.options.clock.now());
    const released: LeaseSpec = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: this.observed.leaseTransitions ?? 0,
    };
    try {
      await this.write(released, signal);
      return;
    } catch (error) {
      if (signal.aborted || !(error instanceof LeaseConflictError)) {
        this.options.log?.('releasing the lease failed; it expires on its own', error);
        return;
      }
    }
    // A renewal cut short may have been written after all: read the lease and release it if still ours.
    try {
      this.lease = await this.options.store.get(signal);
      if (this.lease?.spec.holderIdentity !== this.options.identity) return;
      await this.write({ ...released, leaseTransitions: this.lease.spec.leaseTransitions ?? 0 }, signal);
    } catch (error) {
      this.options.log?.('releasing the lease failed; it expires on its own', error);
    }
  }
}

/**
 * Takes part in the election until `signal` aborts or leadership is lost. While this replica leads,
 * `onStartedLeading`'s work runs. Resolves once the work has returned and, when stopping, the lease is
 * released. When leadership is lost (result `end: 'lost'`) the caller decides: `cairn server` campaigns
 * again in the same process, and its controllers start from a fresh list when it leads again.
 */
export async function runLeaderElection(options: LeaderElectionOptions): Promise<LeaderElectionResult> {
  const leaseDurationMs = options.leaseDurationMs ?? defaultLeaseDurationMs;
  const renewDeadlineMs = options.renewDeadlineMs ?? defaultRenewDeadlineMs;
  const retryPeriodMs = options.retryPeriodMs ?? defaultRetryPeriodMs;
  if (!(leaseDurationMs >= 1000 && leaseDurationMs % 1000 === 0))
    throw new RangeError(`leaseDurationMs must be whole seconds, at least 1000, got ${leaseDurationMs}`);
  if (!(renewDeadlineMs < leaseDurationMs))
    throw new RangeError(`renewDeadlineMs must be less than leaseDurationMs, got ${renewDeadlineMs}`);
  if (!(retryPeriodMs > 0 && retryPeriodMs * jitterFactor < renewDeadlineMs))
    throw new RangeError(
      `retryPeriodMs must be above 0 and its ${jitterFactor}-fold below renewDeadlineMs, got ${retryPeriodMs}`,
    );
  if (options.identity === '') throw new RangeError('identity must not be empty');
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const { signal } = options;
  const store =
    options.store ?? (options.client && new KubeLeaseStore(options.client, options.namespace, options.name));
  if (!store) throw new TypeError('leader election needs a client or a lease store');
  const elector = new Elector({ ...options, leaseDurationMs, clock, store });

  // Take the lease.
  for (;;) {
    if (signal.aborted) return { led: false, end: 'stopped' };
    const attempt = deadlineSignal(clock, renewDeadlineMs, signal);
    const taken = await elector.tryAcquireOrRenew(attempt.signal);
    attempt.clear();
    if (taken) break;
    await clock.sleep(retryPeriodMs * (1 + random() * jitterFactor), signal);
  }
  if (signal.aborted) {
    // Taken as the signal aborted: hand it back before leading at all.
    await releaseIfWanted(elector, options, renewDeadlineMs, clock);
    return { led: false, end: 'stopped' };
  }
  options.log?.(`${options.identity} leads (lease ${options.namespace}/${options.name})`);

  // Lead: start the work and renew until the signal aborts, the work returns by itself (a leader doing
  // nothing must not hold the lease), or a renewal misses its deadline.
  const leading = new AbortController();
  // All of the leader's work (informers, queues, every request and store read) listens to this signal.
  setMaxListeners(0, leading.signal);
  const work = (async () => {
    await options.onStartedLeading(leading.signal);
  })().catch((error: unknown) => options.log?.('the leader work failed', error));
  const renewing = { elector, clock, renewDeadlineMs, retryPeriodMs };
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  signal.addEventListener('abort', stop, { once: true });
  void work.then(stop);
  const renewed = await renew(renewing, stopping.signal);
  signal.removeEventListener('abort', stop);
  if (renewed === 'lost') {
    options.log?.(
      `${options.identity} could not renew the lease within ${renewDeadlineMs} ms; stops leading`,
    );
    leading.abort(new Error('leadership lost'));
    stoppedLeading(options);
    await work;
    return { led: true, end: 'lost' };
  }

  // Stopping: end the work while still holding the lease, then release it.
  leading.abort(signal.aborted ? signal.reason : new Error('the leader work returned'));
  const keep = new AbortController();
  const kept = renew(renewing, keep.signal);
  await work;
  keep.abort();
  const end = await kept;
  if (end === 'stopped') await releaseIfWanted(elector, options, renewDeadlineMs, clock);
  stoppedLeading(options);
  return { led: true, end };
}

function stoppedLeading(options: LeaderElectionOptions): void {
  try {
    options.onStoppedLeading?.();
  } catch (error) {
    options.log?.('the onStoppedLeading handler failed', error);
  }
}

async function releaseIfWanted(
  elector: Elector,
  options: LeaderElectionOptions,
  renewDeadlineMs: number,
  clock: Clock,
): Promise<void> {
  if (options.releaseOnCancel === false) return;
  const attempt = deadlineSignal(clock, renewDeadlineMs, new AbortController().signal);
  await elector.release(attempt.signal);
  attempt.clear();
}

/** Renews every retryPeriod until `signal` aborts ('stopped') or no renewal succeeds within the deadline ('lost'). */
async function renew(
  how: { elector: Elector; clock: Clock; renewDeadlineMs: number; retryPeriodMs: number },
  signal: AbortSignal,
): Promise<'stopped' | 'lost'> {
  const { elector, clock, renewDeadlineMs, retryPeriodMs } = how;
  for (;;) {
    await clock.sleep(retryPeriodMs, signal);
    if (signal.aborted) return 'stopped';
    const started = clock.now();
    for (;;) {
      const remaining = started + renewDeadlineMs - clock.now();
      if (remaining <= 0) return 'lost';
      const attempt = deadlineSignal(clock, remaining, signal);
      const renewed = await elector.tryAcquireOrRenew(attempt.signal);
      attempt.clear();
      if (signal.aborted) return 'stopped';
      if (renewed) break;
      await clock.sleep(
        Math.min(retryPeriodMs, Math.max(0, started + renewDeadlineMs - clock.now())),
        signal,
      );
      if (signal.aborted) return 'stopped';
    }
  }
}
