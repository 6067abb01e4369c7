// The restore engine: read the archive, order, transform, apply with conflict policies, verify.
// Imports api, kube, storage, archive, volumes.
// Nothing is exported yet: the restore issue adds the engine.
export {};
