// The store operations in flight, by location and operation: what the server's metrics show (how many,
// and how old the oldest is, per location), so that an alert sees a backup stuck on its object store.
// withTimeouts (timeouts.ts) registers every operation it watches; the metrics read a snapshot.

/** The operations of ObjectStore, as metrics and messages name them. */
export type StoreOperation =
  'put' | 'get' | 'head' | 'list' | 'delete' | 'signedUrl' | 'abortIncompleteUploads';

export interface ActivitySnapshot {
  /** Operations in flight per location and operation; a pair seen before and idle now counts 0. */
  inFlight: { location: string; operation: StoreOperation; count: number }[];
  /** Per location seen: seconds since the oldest operation in flight started (0 when none is). */
  oldest: { location: string; seconds: number }[];
}

interface Running {
  location: string;
  operation: StoreOperation;
  startedAt: number;
}

export class StoreActivity {
  readonly #running = new Set<Running>();
  /** Every location and operation seen, so that their series go back to 0 rather than vanish. */
  readonly #seen = new Map<string, Set<StoreOperation>>();

  /** Notes an operation starting at `startedAt` (ms); returns what ends it (idempotent). */
  begin(location: string, operation: StoreOperation, startedAt: number): () => void {
    const running: Running = { location, operation, startedAt };
    this.#running.add(running);
    let operations = this.#seen.get(location);
    if (!operations) this.#seen.set(location, (operations = new Set()));
    operations.add(operation);
    return () => void this.#running.delete(running);
  }

  /** What is in flight at `now` (ms). */
  snapshot(now: number): ActivitySnapshot {
    const counts = new Map<string, number>();
    const oldest = new Map<string, number>();
    for (const { location, operation, startedAt } of this.#running) {
      const key = `${location}\0${operation}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      oldest.set(location, Math.min(oldest.get(location) ?? startedAt, startedAt));
    }
    const inFlight: ActivitySnapshot['inFlight'] = [];
    for (const [location, operations] of this.#seen)
      for (const operation of operations)
        inFlight.push({ location, operation, count: counts.get(`${location}\0${operation}`) ?? 0 });
    return {
      inFlight,
      oldest: [...this.#seen.keys()].map((location) => {
        const startedAt = oldest.get(location);
        return { location, seconds: startedAt === undefined ? 0 : Math.max(0, (now - startedAt) / 1000) };
      }),
    };
  }
}
