// The dashboard's HTTP API (docs/design/dashboard.md): what `cairn server` answers under /ui/api and what
// the pages (src/ui) read. Types only, shared by both sides; times are RFC 3339 strings, sizes bytes.
import type { Backup, BackupPhase } from './backup.ts';
import type { HookResult } from './hooks.ts';
import type { PodVolumeBackup } from './pod-volume.ts';
import type { NamespacedConflictPolicy, RestorePhase } from './restore.ts';
import type { Schedule } from './schedule.ts';

/** GET /ui/api/session: who is looking, and which buttons to show. */
export interface DashboardSession {
  user: string;
  /** The server's namespace, where its resources live. */
  namespace: string;
  can: {
    /** Sees every backup, schedule, location and restore (list in the server's namespace). */
    listAll: boolean;
    /** May restore: create restores.cairn.dev, or (a tenant) create what is restored in its namespaces. */
    createRestore: boolean;
    /** May pause, resume and edit schedules. */
    patchSchedules: boolean;
    /** May make schedules (create schedules.cairn.dev). */
    createSchedules: boolean;
    /** May run a schedule now (create backups.cairn.dev). */
    createBackups: boolean;
    /** May delete backups (create deletebackuprequests.cairn.dev). */
    deleteBackups: boolean;
  };
  /** A tenant: the namespaces whose backups it sees; absent for a user who sees everything. */
  namespaces?: string[] | undefined;
}

/** One backup, as the overview and the backups table show it. */
export interface BackupRow {
  name: string;
  phase: BackupPhase;
  /** The schedule that made it; '' for a backup made by hand. */
  schedule: string;
  /** The namespaces it holds: its includedNamespaces, or ['*'] for every namespace. */
  namespaces: string[];
  /** The locations holding it (Completed copies first). */
  locations: string[];
  started?: string | undefined;
  completed?: string | undefined;
  durationSeconds?: number | undefined;
  /** Bytes stored: the archive and volume data, in its first location. */
  sizeBytes?: number | undefined;
  items?: number | undefined;
  warnings: number;
  errors: number;
  expires?: string | undefined;
  /** While set and in the future, the backup cannot be deleted. */
  deleteLockUntil?: string | undefined;
  failureReason?: string | undefined;
}

export interface ScheduleRow {
  name: string;
  /** The cron expression. */
  schedule: string;
  paused: boolean;
  lastBackup?: BackupRow | undefined;
  /** When its newest Completed backup started. */
  lastSuccess?: string | undefined;
  nextRun?: string | undefined;
  /** False when no backup of it succeeded within its period (two periods, for slack). */
  healthy: boolean;
  /** Why it is not healthy. */
  problem?: string | undefined;
}

export interface LocationRow {
  name: string;
  provider: string;
  /** Bucket (and prefix), or directory. */
  where: string;
  accessMode: 'ReadWrite' | 'ReadOnly';
  phase: 'Available' | 'Unavailable' | 'Unknown';
  lastValidation?: string | undefined;
  message?: string | undefined;
  /** Bytes of the backups stored there, as their statuses record them. */
  usedBytes: number;
  backups: number;
}

/** GET /ui/api/schedules/<name>: a schedule's row and resource (the edit form starts from its spec). */
export interface ScheduleDetail {
  row: ScheduleRow;
  schedule: Schedule;
}

/**
 * POST /ui/api/schedules (name needed) and PUT /ui/api/schedules/<name> (name absent): the schedule's
 * fields the dashboard edits. On PUT, a field left out keeps its value; `null` clears an optional one.
 */
export interface ScheduleRequest {
  name?: string | undefined;
  /** Cron (five fields, CRON_TZ=, @daily, @every 6h). */
  schedule?: string | undefined;
  paused?: boolean | undefined;
  includedNamespaces?: string[] | null | undefined;
  excludedNamespaces?: string[] | null | undefined;
  labelSelector?: string | null | undefined;
  /** A Go duration ("720h"). */
  ttl?: string | null | undefined;
  storageLocation?: string | null | undefined;
}

/** GET /ui/api/overview. */
export interface DashboardOverview {
  schedules: ScheduleRow[];
  locations: LocationRow[];
  /** Every backup the user sees, oldest first: the points of the duration and size charts. */
  history: BackupRow[];
}

/** GET /ui/api/backups. */
export interface BackupList {
  backups: BackupRow[];
}

/** GET /ui/api/backups/<name>. */
export interface BackupDetail {
  row: BackupRow;
  /** The Backup resource: spec and status (volume, hook and location results are in the status). */
  backup: Backup;
  /** Items per resource (group/resource → count), from the backup's resource list; absent when hidden. */
  resources?: Record<string, number> | undefined;
  /** Its pod volumes' results (<name>-podvolumebackups.json.gz), of the namespaces shown. */
  podVolumes?: PodVolumeBackup[] | undefined;
  /** Its hooks' outcomes (<name>-hook-results.json.gz), of the namespaces shown. */
  hooks?: HookResult[] | undefined;
  /** Why item lists are hidden (the user may not list Secrets in some of its namespaces). */
  hidden?: string | undefined;
}

/** POST /ui/api/restores/preview and POST /ui/api/restores. */
export interface RestoreRequest {
  backupName: string;
  includedNamespaces?: string[] | undefined;
  /** Source namespace → target namespace. */
  namespaceMapping?: Record<string, string> | undefined;
  namespacedConflictPolicy?: NamespacedConflictPolicy | undefined;
}

export interface PreviewEntry {
  outcome: string;
  groupResource: string;
  namespace?: string | undefined;
  name: string;
  reason?: string | undefined;
  /** Lines of the difference from the live object (a Secret's values as hash prefixes). */
  diff?: string[] | undefined;
}

export interface RestorePreview {
  entries: PreviewEntry[];
  /** Items per outcome. */
  counts: Record<string, number>;
  warnings: string[];
}

/** GET /ui/api/restores/<name>, and the answer to POST /ui/api/restores. */
export interface RestoreState {
  name: string;
  phase: RestorePhase;
  itemsRestored?: number | undefined;
  totalItems?: number | undefined;
  failureReason?: string | undefined;
  counts?: Record<string, number> | undefined;
}

/** GET /ui/api/events: the data of each `change` event. */
export interface DashboardChange {
  kind: 'Backup' | 'Schedule' | 'BackupLocation' | 'Restore';
  name: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
}

/** Every error answer: 400, 401, 403, 404, 409, 502, 503. */
export interface DashboardError {
  error: string;
}
