// The Schedule kind (cairn.dev/v1): a Backup made on a cron schedule, with a retention policy. Velero's
// ScheduleSpec fields (schedule, template, paused, skipImmediately, useOwnerReferencesInBackup), plus
// Cairn's `retention`, the policy src/controller/retention.ts decides with (docs/design/server-mode.md).
import { Type, type Static } from '@sinclair/typebox';
import { BackupSpecSchema } from './backup.ts';
import { ObjectMetaSchema, StringEnum, Timestamp } from './schema.ts';

const keep = (description: string) => Type.Optional(Type.Integer({ minimum: 0, description }));

/**
 * Which backups of the schedule are kept (grandfather-father-son, as restic's `forget` counts): the
 * newest N, and the newest backup of each of the last N hours, days, ISO weeks, months and years. A
 * backup kept by no rule is deleted; without a policy, each backup is kept until its TTL.
 */
export const RetentionPolicySchema = Type.Object(
  {
    keepLast: keep('The newest N successful backups (Completed or PartiallyFailed).'),
    hourly: keep('The newest backup of each of the last N hours that have one.'),
    daily: keep('The newest backup of each of the last N days that have one (UTC).'),
    weekly: keep('The newest backup of each of the last N ISO weeks that have one.'),
    monthly: keep('The newest backup of each of the last N months that have one.'),
    yearly: keep('The newest backup of each of the last N years that have one.'),
    keepFailed: Type.Optional(
      Type.Integer({
        minimum: 0,
        default: 3,
        description: 'The newest N failed backups, counted apart so failures do not push good backups out.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Which of the schedule's backups are kept, instead of each backup's TTL. A backup is kept when any " +
      'rule keeps it; a delete lock (template.deleteLockDays) wins over every rule.',
  },
);
export type RetentionPolicy = Static<typeof RetentionPolicySchema>;

export const ScheduleSpecSchema = Type.Object(
  {
    schedule: Type.String({
      minLength: 1,
      description:
        'When to back up: a cron expression of 5 fields ("0 3 * * *"), in UTC unless it starts with ' +
        'CRON_TZ=<zone> or TZ=<zone>; a descriptor (@daily, @hourly, ...); or @every <Go duration> ("@every 6h").',
    }),
    template: Type.Object(BackupSpecSchema.properties, {
      additionalProperties: false,
      description: "The Backup to make each time: a Backup's spec.",
    }),
    paused: Type.Optional(Type.Boolean({ default: false, description: 'No backups are made while true.' })),
    skipImmediately: Type.Optional(
      Type.Boolean({
        description:
          'When the schedule is new or unpaused and a run is already due, skip it and wait for the next. ' +
          'Unset: false.',
      }),
    ),
    useOwnerReferencesInBackup: Type.Optional(
      Type.Boolean({
        description: "The schedule's Backups get an owner reference to it, so deleting it deletes them.",
      }),
    ),
    retention: Type.Optional(RetentionPolicySchema),
  },
  { additionalProperties: false, description: 'When to back up, what, and which backups to keep.' },
);
export type ScheduleSpec = Static<typeof ScheduleSpecSchema>;

export const SCHEDULE_PHASES = ['New', 'Enabled', 'FailedValidation'] as const;
export type SchedulePhase = (typeof SCHEDULE_PHASES)[number];

export const ScheduleStatusSchema = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(SCHEDULE_PHASES, {
        description: 'New until checked; Enabled makes backups; FailedValidation when the spec is bad.',
      }),
    ),
    lastBackup: Type.Optional(Timestamp({ description: 'When the last Backup was made.' })),
    lastSkipped: Type.Optional(
      Timestamp({ description: 'When a due run was last skipped (skipImmediately).' }),
    ),
    nextRun: Type.Optional(Timestamp({ description: 'Cairn: when the next Backup is due.' })),
    validationErrors: Type.Optional(
      Type.Array(Type.String(), { description: 'Why the spec is invalid (phase FailedValidation).' }),
    ),
  },
  { additionalProperties: false, description: 'What the schedule has done, and will do next.' },
);
export type ScheduleStatus = Static<typeof ScheduleStatusSchema>;

export const ScheduleSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.Literal('Schedule'),
  metadata: ObjectMetaSchema,
  spec: ScheduleSpecSchema,
  status: Type.Optional(ScheduleStatusSchema),
});
export type Schedule = Static<typeof ScheduleSchema>;
