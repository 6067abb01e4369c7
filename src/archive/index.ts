// The backup archive format (Velero format 1.1.0, docs/formats/archive.md): writing and reading the
// tar.gz of resources, streaming. Imports api.
export { ArchiveWriter } from './writer.ts';
export type { ArchiveItemInput, ArchiveWriterOptions, ArchiveWriterStats } from './writer.ts';
export { indexArchive, openArchive, readArchive } from './reader.ts';
export type { ArchiveIndex, ArchiveItem, ArchiveReader, ItemLocation, ReadArchiveOptions } from './reader.ts';
export { ARCHIVE_FORMAT_VERSION, DEFAULT_MAX_ITEM_BYTES } from './layout.ts';
export { TarBuilder, itemPaths } from './tar-builder.ts';
export type { ItemPlace } from './tar-builder.ts';
export {
  ArchiveCorruptError,
  ArchiveItemTooLargeError,
  ArchiveWriterClosedError,
  DuplicateArchiveItemError,
  InvalidArchiveItemError,
  UnsupportedArchiveVersionError,
} from './errors.ts';
