// One backup written to several locations at once (docs/storage.md, "Writing to several locations"):
// claim the name in every location → tee a stream (the archive) into all of them → write the smaller
// files → verify each file → check the claims → commit, location by location. A location that fails drops
// out with its reason while the others go on; the writer's signal tells the producer of the stream when
// nothing is left to write to. Deals in files, streams and BackupStores, not in what a backup holds.
import { PassThrough, Transform, type Readable } from 'node:stream';
import type { Backup } from '../api/index.ts';
import {
  ClaimLostError,
  manifestOf,
  type BackupClaim,
  type BackupStore,
  type StoredFile,
} from './backup-store.ts';
import type { BackupDataFile } from './layout.ts';

/** Bytes a location's upload may lag behind a teed stream before it holds the stream back. */
const DEFAULT_SLACK_BYTES = 4 * 1024 * 1024;

export interface MultiLocationWriterOptions {
  /** The backup's name. */
  name: string;
  /** The locations, in order: claims are made, and outcomes listed, in this order. Names must differ. */
  stores: readonly BackupStore[];
  /** Where the store can, every object written is kept from deletion until then (a delete lock). */
  retainUntil?: Date | undefined;
  /** The clock uploads are metered on (UploadMeter.lastTaken). */
  now: () => Date;
  /** Stops every store call. */
  signal?: AbortSignal | undefined;
}

/** One location's upload of a teed stream, as a watcher for stalled uploads sees it. */
export interface UploadMeter {
  location: string;
  /** When the upload last took bytes (ms since the epoch). */
  lastTaken: number;
  /** Whether bytes are waiting for it. */
  waiting: () => boolean;
}

/** What became of one location: still good, or failed with the first reason (and the files it holds). */
export type LocationOutcome =
  | { location: string; ok: true; files: readonly StoredFile[] }
  | {
      location: string;
      ok: false;
      reason: string;
      /** The name is no longer this writer's there: nothing more was written there, nor committed. */
      claimLost: boolean;
      files: readonly StoredFile[];
    };

/** The files to write in a location (by its name), in order. */
export type FilesFor = (location: string) => readonly { file: BackupDataFile; body: Buffer }[];

/** The writer's signal's reason when every location failed while a stream was teed into them. */
export class EveryLocationFailedError extends Error {
  override readonly name = 'EveryLocationFailedError';
  readonly file: BackupDataFile;
  /** Each location's reason, by name. */
  readonly reasons: Readonly<Record<string, string>>;
  constructor(file: BackupDataFile, reasons: Record<string, string>) {
    // Each location's reason in the message too: it becomes the backup's failureReason, which must name
    // the location that failed and why (a timeout, a full disk) without a look at the locations' list.
    const each = Object.entries(reasons).map(([location, reason]) => `location ${location}: ${reason}`);
    super(`every location failed to store the ${file} (${each.join('; ')})`);
    this.file = file;
    this.reasons = reasons;
  }
}

/** One location's part of the write. */
interface LocationWrite {
  store: BackupStore;
  files: StoredFile[];
  failure?: string;
  claimLost: boolean;
}

/** A pass-through that notes in `meter` when bytes go through it (when the upload takes them). */
function meterStream(meter: UploadMeter, now: () => number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      meter.lastTaken = now();
      callback(null, chunk);
    },
  });
}

/**
 * Writes one backup to several locations. Call claim() first, then tee() and writeFiles(), verify(),
 * checkClaims() and commit(), in that order. A store call that fails marks its location failed (the
 * first reason is kept; a lost claim or a failed commit replaces it) without stopping the others.
 */
export class MultiLocationWriter {
  readonly name: string;
  readonly #writes: LocationWrite[];
  readonly #options: MultiLocationWriterOptions;
  readonly #abort = new AbortController();
  readonly #uploads: UploadMeter[] = [];
  #claimed: Promise<void> | undefined;
  #firstLost: ClaimLostError | undefined;

  constructor(options: MultiLocationWriterOptions) {
    this.name = options.name;
    this.#options = options;
    this.#writes = options.stores.map((store) => ({ store, files: [], claimLost: false }));
  }

  /**
   * Aborts when whoever produces the data should stop: with the claim's error when a claim failed, with
   * ClaimLostError when a claim was lost (lose()), and with EveryLocationFailedError when no location is
   * left to take a teed stream.
   */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** The uploads of the streams being teed, as they start. */
  get uploads(): readonly UploadMeter[] {
    return this.#uploads;
  }

  /** The first claim found lost, if any. */
  get claimLost(): ClaimLostError | undefined {
    return this.#firstLost;
  }

  /**
   * Claims the name in every location, in order. On a failure, gives back the claims made (the name stays
   * free where it was free), aborts the signal and rejects with the failure: nothing else is written.
   */
  claim(claim: BackupClaim): Promise<void> {
    this.#claimed ??= this.#claimEverywhere(claim).catch((error: unknown) => {
      this.#abort.abort(error);
      throw error;
    });
    return this.#claimed;
  }

  async #claimEverywhere(claim: BackupClaim): Promise<void> {
    const claimed: BackupStore[] = [];
    try {
      for (const { store } of this.#writes) {
        await store.claim(claim, { signal: this.#options.signal });
        claimed.push(store);
      }
    } catch (error) {
      await Promise.allSettled(claimed.map((store) => store.releaseClaim(claim.name)));
      throw error;
    }
  }

  /**
   * Streams `source` into `file` in every location, through a branch per location with `slackBytes` of
   * buffer, so that the producer runs ahead of each upload instead of waiting on every write; the slowest
   * location paces it. The branches are attached at once and the uploads start once every claim holds.
   * A location whose upload fails is dropped ("storing the <file> failed: …") and the others go on; when
   * none is left the signal aborts (EveryLocationFailedError). A source destroyed before its end fails
   * every upload. Resolves once every upload has settled; rejects only when called before claim().
   */
  async tee(
    file: BackupDataFile,
    source: Readable,
    options: { slackBytes?: number | undefined } = {},
  ): Promise<void> {
    const claimed = this.#claimed;
    if (!claimed) throw new Error('the name must be claimed before anything is written');
    const branches = this.#writes
      .filter((write) => write.failure === undefined)
      .map((write) => {
        const branch = new PassThrough({ highWaterMark: options.slackBytes ?? DEFAULT_SLACK_BYTES });
        source.pipe(branch);
        return { write, branch };
      });
    // pipe() passes no error on: without this each upload would wait for the rest of its branch for ever.
    // (Closed without the error: a branch whose upload never started has no listener for it.)
    source.once('close', () => {
      if (!source.readableEnded) for (const { branch } of branches) branch.destroy();
    });
    const drop = (branch: PassThrough) => {
      source.unpipe(branch);
      branch.resume();
    };
    try {
      await claimed;
    } catch {
      for (const { branch } of branches) drop(branch);
      return;
    }
    await Promise.all(
      branches.map(async ({ write, branch }) => {
        try {
          await this.#upload(write, file, branch);
        } catch (error) {
          drop(branch);
          this.#fail(write, `storing the ${file} failed: ${(error as Error).message}`);
          if (this.#writes.every((w) => w.failure !== undefined))
            this.#abort.abort(new EveryLocationFailedError(file, this.#reasons()));
        }
      }),
    );
  }

  /** Uploads one location's branch of a teed stream, metered. */
  async #upload(write: LocationWrite, file: BackupDataFile, branch: PassThrough): Promise<void> {
    const now = () => this.#options.now().getTime();
    let finished = false;
    const meter: UploadMeter = {
      location: write.store.location,
      lastTaken: now(),
      // Bytes wait for the location: buffered ahead of it, or the whole stream made and not yet stored.
      waiting: () =>
        !finished &&
        (branch.writableFinished ||
          branch.readableLength + metered.readableLength + metered.writableLength > 0),
    };
    const metered = meterStream(meter, now);
    branch.once('close', () => {
      if (!branch.readableEnded)
        metered.destroy(new Error(`the backup stopped before its ${file} was complete`));
    });
    branch.pipe(metered);
    this.#uploads.push(meter);
    try {
      write.files.push(await write.store.writeFile(this.name, file, metered, this.#writeOptions()));
    } catch (error) {
      branch.unpipe(metered);
      metered.resume();
      throw error;
    } finally {
      finished = true;
    }
  }

  /**
   * Writes each location's files (`filesFor` its name), in order, in every location that holds its claim.
   * A location that failed before gets them too: a backup that fails as a whole is still recorded, as
   * failed, wherever its logs land (commit's `evenWhereFailed`).
   */
  async writeFiles(filesFor: FilesFor): Promise<void> {
    await this.#eachHeld(async (write) => {
      for (const { file, body } of filesFor(write.store.location))
        write.files.push(await write.store.writeFile(this.name, file, body, this.#writeOptions()));
    });
  }

  /** Leaves a stored file out of what is verified, counted in the outcomes and listed by the commit. */
  leaveOut(file: BackupDataFile): void {
    for (const write of this.#writes) write.files = write.files.filter((f) => f.file !== file);
  }

  /** Reads every file written back, in every location that holds its claim, and checks its SHA-256. */
  async verify(): Promise<void> {
    await this.#eachHeld(async (write) => {
      for (const file of write.files) await write.store.verify(file, { signal: this.#options.signal });
    });
  }

  /**
   * Checks that every claim is still this writer's, right before the commits (stop refreshing the claims
   * first): a location whose claim is gone is lost (lose()) and gets no commit.
   */
  async checkClaims(claim: BackupClaim): Promise<void> {
    await Promise.all(
      this.#writes
        .filter((write) => !write.claimLost)
        .map(async (write) => {
          try {
            await write.store.checkClaim(claim, { signal: this.#options.signal });
          } catch (error) {
            if (error instanceof ClaimLostError) this.lose(error);
            else this.#fail(write, `checking the claim failed: ${(error as Error).message}`);
          }
        }),
    );
  }

  /**
   * The name is no longer this writer's in the error's location (the backup was deleted there as
   * orphaned while it ran): nothing more is written or committed there, and the signal aborts with the
   * error, because a backup deleted while it ran is not to be finished elsewhere as if it were whole.
   */
  lose(error: ClaimLostError): void {
    const write = this.#writes.find((w) => w.store.location === error.location);
    if (!write) return;
    write.claimLost = true;
    write.failure = error.message;
    this.#firstLost ??= error;
    this.#abort.abort(error);
  }

  /**
   * Commits in each location, one after the other in order: the checksum manifest of the files it holds,
   * then `backupFor(…)`'s metadata. Locations that failed are skipped unless `evenWhereFailed` (a failed
   * backup is recorded as failed wherever it can be); a lost claim's location always is. A commit that
   * fails marks its location failed ("committing failed: …", replacing an earlier reason).
   */
  async commit(options: {
    backupFor: (location: {
      location: string;
      encryption: BackupStore['encryption'];
      /** The SHA-256 of the checksum manifest, which chains every file: for the backup's status. */
      checksums: string;
    }) => Backup;
    evenWhereFailed: boolean;
  }): Promise<{ committed: Backup[]; failed: { location: string; reason: string }[] }> {
    const committed: Backup[] = [];
    const failed: { location: string; reason: string }[] = [];
    for (const write of this.#writes) {
      if (write.claimLost || (write.failure !== undefined && !options.evenWhereFailed)) continue;
      const { store } = write;
      const { manifest, sha256 } = manifestOf(this.name, write.files, store.encryption);
      const backup = options.backupFor({
        location: store.location,
        encryption: store.encryption,
        checksums: sha256,
      });
      try {
        await store.commit(backup, manifest, this.#writeOptions());
        committed.push(backup);
      } catch (error) {
        write.failure = `committing failed: ${(error as Error).message}`;
        failed.push({ location: store.location, reason: write.failure });
      }
    }
    return { committed, failed };
  }

  /** Every location's outcome so far, in the stores' order. */
  outcomes(): LocationOutcome[] {
    return this.#writes.map((write) => this.#outcomeOf(write));
  }

  /** One location's outcome so far. */
  outcome(location: string): LocationOutcome | undefined {
    const write = this.#writes.find((w) => w.store.location === location);
    return write && this.#outcomeOf(write);
  }

  #outcomeOf(write: LocationWrite): LocationOutcome {
    const { location } = write.store;
    const files = [...write.files];
    return write.failure === undefined
      ? { location, ok: true, files }
      : { location, ok: false, reason: write.failure, claimLost: write.claimLost, files };
  }

  /** Runs `step` in every location that holds its claim; a failure marks only that location. */
  async #eachHeld(step: (write: LocationWrite) => Promise<void>): Promise<void> {
    await Promise.all(
      this.#writes
        .filter((write) => !write.claimLost)
        .map(async (write) => {
          try {
            await step(write);
          } catch (error) {
            this.#fail(write, (error as Error).message);
          }
        }),
    );
  }

  /** Marks a location failed, keeping its first reason. */
  #fail(write: LocationWrite, reason: string): void {
    write.failure ??= reason;
  }

  #reasons(): Record<string, string> {
    return Object.fromEntries(this.#writes.map((w) => [w.store.location, w.failure ?? '']));
  }

  #writeOptions(): { signal?: AbortSignal | undefined; retainUntil?: Date | undefined } {
    return { signal: this.#options.signal, retainUntil: this.#options.retainUntil };
  }
}
