// Typed errors of the backup archive: one class per condition, with the fields a caller needs.

/** An item given to the writer has a field that cannot become a safe archive path. */
export class InvalidArchiveItemError extends Error {
  override readonly name = 'InvalidArchiveItemError';
  readonly field: 'groupResource' | 'namespace' | 'name' | 'version' | 'preferredVersion' | 'object';
  readonly value: string;
  constructor(
    field: 'groupResource' | 'namespace' | 'name' | 'version' | 'preferredVersion' | 'object',
    value: string,
    reason: string,
  ) {
    super(`invalid archive item ${field} ${JSON.stringify(value)}: ${reason}`);
    this.field = field;
    this.value = value;
  }
}

/** The writer was given the same item path twice. */
export class DuplicateArchiveItemError extends Error {
  override readonly name = 'DuplicateArchiveItemError';
  readonly path: string;
  constructor(path: string) {
    super(`archive item ${path} was already written`);
    this.path = path;
  }
}

/** An item is bigger than the configured limit (`maxItemBytes`), on writing or on reading. */
export class ArchiveItemTooLargeError extends Error {
  override readonly name = 'ArchiveItemTooLargeError';
  readonly path: string;
  readonly size: number;
  readonly limit: number;
  constructor(path: string, size: number, limit: number) {
    super(`archive item ${path} is ${size} bytes, over the limit of ${limit} bytes (maxItemBytes)`);
    this.path = path;
    this.size = size;
    this.limit = limit;
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
  readonly path: string | undefined;
  readonly reason: string;
  constructor(
    path: string | undefined,
    reason: string,
    options?: { cause?: unknown; position?: 'at' | 'after' },
  ) {
    const position = options?.position ?? 'at';
    super(`corrupt archive${path === undefined ? '' : ` ${position} entry ${path}`}: ${reason}`, options);
    this.path = path;
    this.reason = reason;

    this.position = position;
  }
}

/** The archive's `metadata/version` names a format this reader does not read (major version other than 1). */
export class UnsupportedArchiveVersionError extends Error {
  override readonly name = 'UnsupportedArchiveVersionError';
  readonly version: string;
  constructor(version: string) {
    super(`unsupported archive format version ${JSON.stringify(version)}: this reader reads format 1.x`);
    this.version = version;
  }
}
