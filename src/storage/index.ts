// Object stores behind one small interface (filesystem, S3, Azure Blob, GCS), the wrappers that add
// retry and rate limits, and the backup-store layout on top of them. Imports api.
// Nothing is exported yet: the backup issue adds the drivers and the layout.
export {};
