// Typed errors of the backup archive: one class per condition, with the fields a caller needs.

/** An item given to the writer has a field that cannot become a safe archive path. */
export class InvalidArchiveItemError extends Error {
  override readonly name = 'InvalidArchiveItemError';
  constructor(
    readonly field: 'groupResource' | 'namespace' | 'name' | 'version' | 'preferredVersion' | 'object',
    readonly value: string,
    reason: string,
  ) {
    super(`invalid archive item ${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

/** The writer was given the same item path twice. */
export class DuplicateArchiveItemError extends Error {
  override readonly name = 'DuplicateArchiveItemError';
  constructor(readonly path: string) {
    super(`archive item ${path} was already written`);
  }
}

/** An item is bigger than the configured limit (`maxItemBytes`), on writing or on reading. */
export class ArchiveItemTooLargeError extends Error {
  override readonly name = 'ArchiveItemTooLargeError';
  constructor(
    readonly path: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`archive item ${path} is ${size} bytes, over the limit of ${limit} bytes (maxItemBytes)`);
  }
}

/** The writer was used after `finish()` or after it failed. */
export class ArchiveWriterClosedError extends Error {
  override readonly name = 'ArchiveWriterClosedError';
  constructor(options?: { cause?: unknown }) {
    super(
      options?.cause === undefined
        ? 'archive writer is already finished'
        : 'archive writer failed earlier and cannot be used',
      options,
    );
  }
}

/**
 * The archive cannot be read as a backup archive: bad gzip, bad tar, an entry that is not JSON, an
 * unexpected or unsafe path, a duplicate entry, a missing version file. `path` names the entry being
 * read (`position` "at") or the last entry read before the damage ("after"); it is undefined when the
 * damage comes before the first entry.
 */
export class ArchiveCorruptError extends Error {
  override readonly name = 'ArchiveCorruptError';
  readonly position: 'at' | 'after';
  constructor(
    readonly path: string | undefined,
    readonly reason: string,
    options?: { cause?: unknown; position?: 'at' | 'after' },
  ) {
    const position = options?.position ?? 'at';
    super(`corrupt archive${path === undefined ? '' : ` ${position} entry ${path}`}: ${reason}`, options);
    this.position = position;
  }
}

/** The archive's `metadata/version` names a format this reader does not read (major version other than 1). */
export class UnsupportedArchiveVersionError extends Error {
  override readonly name = 'UnsupportedArchiveVersionError';
  constructor(readonly version: string) {
    super(`unsupported archive format version ${JSON.stringify(version)}: this reader reads format 1.x`);
  }
}
