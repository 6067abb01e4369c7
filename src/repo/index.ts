// The deduplicating, encrypted volume-data repository in the restic repository format. Imports nothing
// of ours.
// Nothing is exported yet: the volume-data issue adds it.
export {};
