// The backup archive format (Velero format 1.1.0): writing and reading the tar.gz of resources.
// Imports api.
// Nothing is exported yet: the backup issue adds the writer and reader.
export {};
