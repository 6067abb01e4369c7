// Reconcilers for every custom resource, schedules, garbage collection, catalog sync, leader election,
// metrics. May import every layer below the CLI. So far: the retention decisions the garbage collector and
// `describe` will share (docs/design/server-mode.md).
export {
  decideRetention,
  isoWeek,
  retentionPolicyProblems,
  type RetainedBackup,
  type RetentionDecision,
  type RetentionPolicy,
} from './retention.ts';
