// A backup's name claim while it runs: the writer refreshes the claim's heartbeat every
// CLAIM_HEARTBEAT_INTERVAL_MS, and a claim whose heartbeat is older than CLAIM_STALE_AFTER_MS belongs to a
// writer that is gone (killed, its machine lost, its store cut off): the backup is orphaned, shown as
// Failed, and `cairn backup delete` clears the name. Time comes from the caller (habit 7).
import type { BackupClaim, BackupStore } from '../storage/index.ts';

/** How often a running backup refreshes its claim's heartbeat. */
export const CLAIM_HEARTBEAT_INTERVAL_MS = 5_000;

/**
 * A claim not refreshed for this long is orphaned: six missed heartbeats, so a slow store or a loaded
 * machine does not make a running backup look dead, while a killed one shows as Failed within a minute.
 */
export const CLAIM_STALE_AFTER_MS = 30_000;

/** How long a claim without a heartbeat (written before heartbeats existed) is taken to be running. */
export const CLAIM_WITHOUT_HEARTBEAT_GRACE_MS = 60 * 60 * 1000;

/**
 * What a claim with no velero-backup.json beside it means at `now`: `InProgress` (its writer is alive),
 * `Orphaned` (its writer stopped refreshing it), or `Incomplete` (no claim, or an old-style claim without a
 * heartbeat, older than an hour).
 */
export function claimState(
  claim: BackupClaim | undefined,
  now: Date,
): 'InProgress' | 'Orphaned' | 'Incomplete' {
  if (!claim) return 'Incomplete';
  const heartbeat = claim.heartbeatAt === undefined ? NaN : Date.parse(claim.heartbeatAt);
  if (Number.isFinite(heartbeat))
    return now.getTime() - heartbeat <= CLAIM_STALE_AFTER_MS ? 'InProgress' : 'Orphaned';
  const started = Date.parse(claim.startedAt);
  return Number.isFinite(started) && now.getTime() - started < CLAIM_WITHOUT_HEARTBEAT_GRACE_MS
    ? 'InProgress'
    : 'Incomplete';
}

/** Resolves after `ms`, or as soon as `signal` aborts; never rejects. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const timerSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * Refreshes `claim`'s heartbeat in every store each CLAIM_HEARTBEAT_INTERVAL_MS until `signal` aborts.
 * A refresh that fails is tried again at the next beat: a store that stays unreachable lets the claim go
 * stale, which is what it should show.
 */
export async function keepClaimAlive(options: {
  claim: BackupClaim;
  stores: readonly BackupStore[];
  now: () => Date;
  sleep: Sleep;
  signal: AbortSignal;
}): Promise<void> {
  const { signal } = options;
  for (;;) {
    await options.sleep(CLAIM_HEARTBEAT_INTERVAL_MS, signal);
    if (signal.aborted) return;
    const claim = { ...options.claim, heartbeatAt: options.now().toISOString() };
    await Promise.allSettled(options.stores.map((store) => store.refreshClaim(claim, { signal })));
  }
}
