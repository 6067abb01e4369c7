// The backups this process runs, kept across its leaderships. A leader whose API server stays away longer
// than the renew deadline (a control-plane upgrade) stops leading and campaigns again, but its backups go
// on: their archive streams into the store, which needs no API server, and their reads and status writes
// wait for the API server to come back. Before committing, a backup waits until this process leads again.
// Another replica seen holding the lease meanwhile took over the controllers (and failed this backup as
// an orphan, backup-controller.ts): the backup stops and fails, naming it, and commits nothing, so that no
// backup is committed by two replicas or stored Completed while its Backup says Failed. A replica that led
// and released the lease cleanly is never seen holding it: the backup, before committing, reads its Backup
// and commits only while it is still InProgress (SupersededError otherwise). docs/server.md.
import type { Clock } from './clock.ts';

/** Another replica led while this backup ran. */
export class TakeoverError extends Error {
  override readonly name = 'TakeoverError';
  /** The other replica's identity in the lease. */
  readonly holder: string;
  constructor(holder: string) {
    super(`another server (${holder}) took over leadership while this backup was running`);
    this.holder = holder;
  }
}

/**
 * The Backup left InProgress while this process ran it: a replica that led meanwhile failed it as an
 * orphan, and released the lease before this process could see it hold it.
 */
export class SupersededError extends Error {
  override readonly name = 'SupersededError';
  /** The Backup's phase as found before the commit. */
  readonly phase: string;
  constructor(phase: string) {
    super(`another server led while this backup was running and marked it ${phase}; nothing is committed`);
    this.phase = phase;
  }
}

/** How long the last status writes of the backups a stopping process stops still try. */
const STOP_WRITE_GRACE_MS = 10_000;

export class BackupRuns {
  readonly #identity: string;
  readonly #stopping: AbortSignal;
  readonly #runs = new Map<string, { done: Promise<void>; stop: AbortController }>();
  /** The signal of the current leadership; aborted (or undefined) while this process does not lead. */
  #leader: AbortSignal | undefined;
  readonly #waiting = new Set<() => void>();
  /** Aborts STOP_WRITE_GRACE_MS after the process's signal: what bounds the runs' last writes. */
  readonly #writes = new AbortController();
  /** Ends the grace timer once every run has ended. */
  readonly #over = new AbortController();

  /** `signal` stops the process: every run stops with it. */
  constructor(options: { identity: string; signal: AbortSignal; clock: Clock }) {
    this.#identity = options.identity;
    this.#stopping = options.signal;
    const grace = () =>
      void options.clock
        .sleep(STOP_WRITE_GRACE_MS, this.#over.signal)
        .then(() => this.#writes.abort(new Error(`the server stopped ${STOP_WRITE_GRACE_MS} ms ago`)));
    if (options.signal.aborted) grace();
    else options.signal.addEventListener('abort', grace, { once: true });
  }

  /** Whether the backup `name` runs in this process. */
  has(name: string): boolean {
    return this.#runs.has(name);
  }

  /**
   * Runs the backup `name` that the leadership of `leader` (its signal) started. `work`'s signal aborts
   * when the process stops (with its signal's reason) or when another replica is seen leading
   * (TakeoverError); not when this process merely stops leading. Settles as the work does, or resolves
   * earlier when `leader` aborts while the process goes on: the backup then runs on without it.
   */
  start(name: string, leader: AbortSignal, work: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.#runs.has(name)) throw new Error(`backup ${name} already runs in this process`);
    const stop = new AbortController();
    const signal = AbortSignal.any([this.#stopping, stop.signal]);
    const done = (async () => {
      try {
        await work(signal);
      } finally {
        this.#runs.delete(name);
      }
    })();
    this.#runs.set(name, { done, stop });
    return new Promise<void>((resolve, reject) => {
      const letGo = () => {
        if (!this.#stopping.aborted) resolve();
      };
      if (leader.aborted) letGo();
      else leader.addEventListener('abort', letGo, { once: true });
      done.then(
        () => {
          leader.removeEventListener('abort', letGo);
          resolve();
        },
        (error: unknown) => {
          leader.removeEventListener('abort', letGo);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** This process leads until `leader` aborts. */
  leading(leader: AbortSignal): void {
    this.#leader = leader;
    for (const wake of this.#waiting) wake();
  }

  /** The lease's holder as this process saw it: another replica stops every backup running here. */
  observed(holder: string): void {
    if (holder === this.#identity) return;
    for (const run of this.#runs.values()) run.stop.abort(new TakeoverError(holder));
  }

  /** Resolves once this process leads (at once when it does); rejects with `signal`'s reason if it aborts first. */
  async led(signal: AbortSignal): Promise<void> {
    while (!(this.#leader && !this.#leader.aborted)) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiting.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiting.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** What bounds a run's last status writes: the process's life, and a grace period once it stops. */
  get writeSignal(): AbortSignal {
    return this.#writes.signal;
  }

  /** Resolves once every run has ended (the process stops after). */
  async settled(): Promise<void> {
    while (this.#runs.size > 0) await Promise.allSettled([...this.#runs.values()].map((r) => r.done));
    this.#over.abort();
  }
}
