// Reconcilers for every custom resource, schedules, garbage collection, catalog sync, leader election,
// metrics. May import every layer below the CLI.
// Nothing is exported yet: the server-mode issue adds them.
export {};
