// The backup engine: select items, follow related items, run item actions and hooks, write the archive
// and metadata. Takes plain values and reports progress through a callback. Imports api, kube, storage,
// archive, volumes.
// Nothing is exported yet: the backup issue adds the engine.
export {};
