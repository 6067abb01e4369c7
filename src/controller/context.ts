// What every controller of the server is given: the API server (as the server's own identity), its
// namespace, the clock, the locations, the metrics and the log.
import type { Access } from './access.ts';
import type { Clock } from './clock.ts';
import type { ServerLocations } from './locations.ts';
import type { ServerMetrics } from './metrics.ts';
import type { ResourceWriter } from './resources.ts';

export interface ServerLogEntry {
  level: 'info' | 'warning' | 'error';
  message: string;
}

export interface ControllerContext extends ResourceWriter {
  /** Timers and intervals (leases, back-off, progress pacing). */
  clock: Clock;
  /**
   * The wall clock of decisions: timestamps, schedules, expiry. The machine's time, or a test's, which
   * moves it by hand without disturbing leases and timers.
   */
  now: () => Date;
  locations: ServerLocations;
  metrics: ServerMetrics;
  log: (entry: ServerLogEntry) => void;
  /** Who writes backups, recorded in their claims: "cairn server v0.1.0 (<identity>)". */
  writer: string;
  /** The image of the init container restored pods wait in for their volumes (needs /bin/sh). */
  restoreHelperImage?: string | undefined;
  /**
   * Tenant-safe restore: restores write only what their creator may, asked of SubjectAccessReviews
   * through this. Undefined: restores write what the server may (--no-restore-access-checks).
   */
  restoreAccess?: Access | undefined;
}
