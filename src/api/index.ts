// The custom resource types of cairn.dev/v1 (Backup, Restore, Schedule, BackupLocation, ...), their
// runtime validation, CRD manifests and defaults. Imports nothing of ours.
// Nothing is exported yet: the backup issue adds the Backup type.
export {};
