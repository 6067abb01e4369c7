// A backup's name claim while it runs: the writer refreshes the claim's heartbeat every
// CLAIM_HEARTBEAT_INTERVAL_MS, and a claim whose heartbeat is older than CLAIM_STALE_AFTER_MS belongs to a
// writer that is gone (killed, its machine lost, its store cut off): the backup is orphaned, shown as
// Failed, and `cairn backup delete` clears the name. Time comes from the caller (habit 7).
import type { Clock } from '../api/index.ts';
import { ClaimLostError, type BackupClaim, type BackupStore } from '../storage/index.ts';

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

/** Waits between beats: a Clock's sleep (resolves after `ms`, or at once once `signal` aborts). */
export type Sleep = Clock['sleep'];

/** A running heartbeat. */
export interface ClaimHeartbeat {
  /**
   * Stops the heartbeat: no beat starts any more and a refresh in flight is aborted. Resolves once every
   * refresh has settled, so nothing rewrites the claim after it (the commit comes after this).
   */
  stop(): Promise<void>;
}

/**
 * Refreshes `claim`'s heartbeat in each store every CLAIM_HEARTBEAT_INTERVAL_MS until stopped (or `signal`
 * aborts). Each store beats on its own, so a slow one delays only its own heartbeat. A refresh that fails
 * is tried again at the next beat: a store that stays unreachable lets the claim go stale, which is what
 * it should show. A claim found gone or another writer's (ClaimLostError: the backup was deleted as
 * orphaned) ends that store's heartbeat and is reported through `onLost`, never rewritten.
 */
export function keepClaimAlive(options: {
  claim: BackupClaim;
  stores: readonly BackupStore[];
  now: () => Date;
  sleep: Sleep;
  signal?: AbortSignal | undefined;
  onLost: (store: BackupStore, error: ClaimLostError) => void;
}): ClaimHeartbeat {
  const stopping = new AbortController();
  const { signal } = stopping;
  const onParentAbort = () => stopping.abort();
  if (options.signal?.aborted) stopping.abort();
  else options.signal?.addEventListener('abort', onParentAbort, { once: true });
  const beat = async (store: BackupStore) => {
    for (;;) {
      await options.sleep(CLAIM_HEARTBEAT_INTERVAL_MS, signal);
      if (signal.aborted) return;
      const claim = { ...options.claim, heartbeatAt: options.now().toISOString() };
      try {
        await store.refreshClaim(claim, { signal });
      } catch (error) {
        if (error instanceof ClaimLostError && !signal.aborted) {
          options.onLost(store, error);
          return;
        }
        // Anything else (the store unreachable, the stop's abort): the next beat tries again, or ends.
      }
    }
  };
  const beats = Promise.all(options.stores.map(beat));
  return {
    stop: async () => {
      stopping.abort();
      options.signal?.removeEventListener('abort', onParentAbort);
      await beats;
    },
  };
}
