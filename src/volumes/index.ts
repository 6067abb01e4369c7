// Volume data: file-system backup of pod volumes, CSI snapshots, snapshot data movement. Imports api,
// kube, repo, storage.
// Nothing is exported yet: the volume-data issue adds it.
export {};
