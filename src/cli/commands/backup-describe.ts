// How a backup is shown: times and durations as Velero prints them, the `backup get` table row, and
// `backup describe`.
import type { PodVolumeBackup, Backup, BackupStatus, ResultGroup } from '../../api/index.ts';
import type { HookResult } from '../../api/index.ts';
import type { VerificationRecord } from '../../storage/index.ts';
import { formatFields } from '../table.ts';
import {
  primaryOf,
  corruptIn,
  isCommitted,
  unfinishedPhase,
  type Copy,
  type Catalog,
  type CommittedCopy,
} from './backup-catalog.ts';

// ---------------------------------------------------------------------------------------------------
// Formatting

/** The Secrets line of describe: one that agrees with the resource filters shown above it. */
const secretsLine = (s: { included: boolean; reason?: string }) =>
  s.included ? 'included' : `excluded (${s.reason ?? ''})`;

/** A time as Go prints a metav1.Time, in UTC: `2026-11-25 01:39:00 +0000 UTC`. */
export function goTime(iso: string | undefined): string {
  if (!iso) return '<n/a>';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** Kubernetes' ShortHumanDuration: 45s, 12m, 5h, 29d, 2y. */
export function shortDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.floor(hours / 24)}d`;
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** Velero's EXPIRES column: the time left, or "expired". */
export function expiresIn(expiration: string | undefined, now: Date): string {
  const at = expiration ? Date.parse(expiration) : NaN;
  if (!Number.isFinite(at)) return 'n/a';
  return at <= now.getTime() ? 'expired' : shortDuration(at - now.getTime());
}

/** Velero's STATUS column: the phase, with the error count of a partial failure. */
export function statusText(status: BackupStatus | undefined): string {
  const phase = status?.phase ?? 'New';
  if (phase !== 'PartiallyFailed') return phase;
  const errors = status?.errors ?? 0;
  return `${phase} (${errors} error${errors === 1 ? '' : 's'})`;
}

export function selectorText(backup: Backup): string {
  if (backup.spec.labelSelector) return backup.spec.labelSelector;
  if (backup.spec.orLabelSelectors?.length) return backup.spec.orLabelSelectors.join(' or ');
  return '<none>';
}

export async function rowOf(copies: Copy[], now: Date): Promise<string[]> {
  const primary = primaryOf(copies);
  const locations = copies.map((c) => c.location).join(',');
  if (!primary) return [];
  if (!isCommitted(primary)) {
    const claim = primary.entry.complete ? undefined : primary.entry.claim;
    return [
      primary.entry.name,
      await unfinishedPhase(claim, now),
      '0',
      '0',
      goTime(claim?.startedAt),
      'n/a',
      locations,
      '<none>',
    ];
  }
  const backup = primary.entry.backup;
  const status = backup.status;
  // A copy whose last verification failed is not a backup to count on: every copy so → Corrupt.
  const corrupt = corruptIn(copies);
  const committed = copies.filter(isCommitted).length;
  return [
    backup.metadata.name,
    corrupt.length === 0
      ? statusText(status)
      : corrupt.length === committed
        ? 'Corrupt (verify failed)'
        : `${statusText(status)} (corrupt in ${corrupt.join(',')})`,
    String(status?.errors ?? 0),
    String(status?.warnings ?? 0),
    goTime(status?.startTimestamp ?? backup.metadata.creationTimestamp),
    expiresIn(status?.expiration, now),
    locations,
    selectorText(backup),
  ];
}

export const BACKUP_COLUMNS = [
  'NAME',
  'STATUS',
  'ERRORS',
  'WARNINGS',
  'CREATED',
  'EXPIRES',
  'STORAGE LOCATION',
  'SELECTOR',
];

export const list = (values: readonly string[] | undefined, empty = '<none>') =>
  values && values.length > 0 ? values.join(', ') : empty;

export function resultLines(label: string, count: number, group: ResultGroup | undefined): string {
  let out = `${`${label}:`.padEnd(10)} ${count}\n`;
  if (!group) return out;
  if (group.cairn?.length) out += `  Cairn:\n${group.cairn.map((m) => `    ${m}\n`).join('')}`;
  if (group.cluster?.length) out += `  Cluster:\n${group.cluster.map((m) => `    ${m}\n`).join('')}`;
  const namespaces = Object.entries(group.namespaces ?? {}).filter(([, messages]) => messages.length > 0);
  if (namespaces.length > 0) {
    out += '  Namespaces:\n';
    for (const [namespace, messages] of namespaces)
      out += `    ${namespace}:\n${messages.map((m) => `      ${m}\n`).join('')}`;
  }
  return out;
}

/** One location's line under "Storage locations:": the recorded result and what is there now. */
export function locationLine(
  name: string,
  recorded: { phase: string; message?: string | undefined } | undefined,
  copy: Copy | undefined,
  catalog: Catalog,
): string {
  const parts: string[] = [];
  if (recorded) parts.push(recorded.phase + (recorded.message ? ` (${recorded.message})` : ''));
  const unavailable = catalog.unavailable.find((u) => u.location === name);
  if (unavailable) parts.push(`could not be read now: ${unavailable.message}`);
  else if (!catalog.searched.includes(name))
    parts.push('not searched (not configured here, or not selected)');
  else if (!copy) parts.push('not in the location now');
  else if (!copy.entry.complete) parts.push('incomplete copy (no velero-backup.json)');
  else if (!recorded) parts.push('present');
  return parts.join('; ');
}

/** A copy's last verification: when, the outcome, and each problem on a line of its own. */
export function verificationText(record: VerificationRecord | undefined, name: string): string {
  if (!record) return `never (\`cairn backup verify ${name} --quick\` checks every file)`;
  const when = goTime(record.verifiedAt);
  if (record.outcome === 'Passed')
    return `${when}: Passed (${record.method}: ${record.files} files as written)`;
  return `${when}: FAILED (${record.method})${record.problems.map((p) => `\n    ${p}`).join('')}`;
}

/**
 * The point in time a backup holds. Every Cairn backup records it; one without the record was written by
 * Velero (or by a tool like it), which lists each resource at its latest: best effort, every resource.
 */
export function consistencyFields(status: BackupStatus): [string, string][] {
  const consistency = status.consistency;
  if (!consistency)
    return [
      ['Consistency', 'best-effort (not recorded: a Velero backup lists each resource at its latest)'],
      ['Best-effort resources', 'all'],
    ];
  return [
    [
      'Consistency',
      consistency.mode + (consistency.revision ? `, at storage revision ${consistency.revision}` : ''),
    ],
    [
      'Best-effort resources',
      consistency.mode === 'best-effort' ? 'all' : list(consistency.bestEffortResources),
    ],
  ];
}

/** `backup describe`'s text. Async only to load the backup engine's layer (for secretsSelection) on demand. */
export async function describeBackup(
  primary: CommittedCopy,
  copies: Copy[],
  catalog: Catalog,
  now: Date,
): Promise<string> {
  const { secretsSelection } = await import('../../backup/index.ts');
  const backup = primary.entry.backup;
  const { spec } = backup;
  const status = backup.status ?? {};
  const labels = Object.entries(backup.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const annotations = Object.entries(backup.metadata.annotations ?? {}).map(([k, v]) => `${k}=${v}`);
  let out = formatFields([
    ['Name', backup.metadata.name],
    ['UID', backup.metadata.uid ?? '<none>'],
    ['Labels', list(labels)],
    ['Annotations', list(annotations)],
  ]);
  out += `\nPhase:  ${status.phase ?? 'New'}\n`;
  if (status.failureReason) out += `Failure reason:  ${status.failureReason}\n`;
  if (status.validationErrors?.length)
    out += `Validation errors:\n${status.validationErrors.map((e) => `  ${e}\n`).join('')}`;

  const clusterScoped =
    spec.includeClusterResources === undefined
      ? 'auto'
      : spec.includeClusterResources
        ? 'included'
        : 'excluded';
  out += '\nNamespaces:\n';
  out += formatFields(
    [
      ['Included', list(spec.includedNamespaces, '*')],
      ['Excluded', list(spec.excludedNamespaces)],
    ],
    '  ',
  );
  out += '\nResources:\n';
  out += formatFields(
    [
      ['Included', list(spec.includedResources, '*')],
      ['Excluded', list(spec.excludedResources)],
      ['Cluster-scoped', clusterScoped],
    ],
    '  ',
  );
  out +=
    '\n' +
    formatFields([
      ['Label selector', spec.labelSelector ?? '<none>'],
      ['Or label selectors', spec.orLabelSelectors?.length ? spec.orLabelSelectors.join(' or ') : '<none>'],
      ['Secrets', secretsLine(secretsSelection(spec))],
    ]);

  const recorded = status.locations ?? [];
  const names = [...recorded.map((l) => l.name)];
  for (const copy of copies) if (!names.includes(copy.location)) names.push(copy.location);
  out += '\nStorage locations:\n';
  out += formatFields(
    names.map((name) => [
      name,
      locationLine(
        name,
        recorded.find((l) => l.name === name),
        copies.find((c) => c.location === name),
        catalog,
      ),
    ]),
    '  ',
  );

  // The last `backup verify --quick` of each copy (not known in server mode: no store is opened there).
  if (catalog.stores.length > 0) {
    out += '\nLast verified:\n';
    out += formatFields(
      copies
        .filter(isCommitted)
        .map((copy) => [copy.location, verificationText(copy.entry.verification, backup.metadata.name)]),
      '  ',
    );
  }

  out += '\nEncryption:\n';
  const committed = copies.filter(isCommitted);
  out += formatFields(
    committed.map((copy) => {
      const encryption = copy.entry.backup.status?.encryption;
      return [
        copy.location,
        encryption ? `${encryption.algorithm}, key id ${encryption.keyId}` : 'none (plaintext location)',
      ];
    }),
    '  ',
  );

  out += '\n' + formatFields([['TTL', spec.ttl ?? '<none>'], ...consistencyFields(status)]);
  out +=
    '\n' +
    formatFields([
      ['Started', goTime(status.startTimestamp)],
      ['Completed', goTime(status.completionTimestamp)],
      ['Expiration', `${goTime(status.expiration)} (${expiresIn(status.expiration, now)})`],
    ]);
  out +=
    '\n' +
    formatFields([
      ['Total items to be backed up', String(status.progress?.totalItems ?? 0)],
      ['Items backed up', String(status.progress?.itemsBackedUp ?? 0)],
    ]);
  const volumes = status.podVolumeBackups;
  if (volumes) {
    out += '\nPod volume backups (file system; --details lists each volume):\n';
    out += formatFields(
      [
        ['Completed', String(volumes.completed)],
        ['Failed', String(volumes.failed)],
        ['Skipped', String(volumes.skipped)],
        ['Bytes', `${volumes.bytes ?? 0} (${volumes.bytesUploaded ?? 0} stored anew)`],
      ],
      '  ',
    );
  }
  if (status.csiVolumeSnapshotsAttempted !== undefined) {
    out += '\nCSI volume snapshots (--details lists each):\n';
    out += formatFields(
      [
        ['Attempted', String(status.csiVolumeSnapshotsAttempted)],
        ['Completed', String(status.csiVolumeSnapshotsCompleted ?? 0)],
      ],
      '  ',
    );
  }
  const moves = status.snapshotDataMoves;
  if (moves) {
    out += '\nSnapshot data moved into the repositories:\n';
    out += formatFields(
      [
        ['Attempted', String(moves.attempted)],
        ['Completed', String(moves.completed)],
        ['Failed', String(moves.failed)],
        ['Bytes', String(moves.bytes)],
        ...(moves.seconds !== undefined ? [['Seconds', String(moves.seconds)] as [string, string]] : []),
      ],
      '  ',
    );
  }
  const hooks = status.hookStatus;
  if (hooks) {
    out += '\nHooks (--details lists each):\n';
    out += formatFields(
      [
        ['Attempted', String(hooks.hooksAttempted)],
        ['Failed', String(hooks.hooksFailed)],
      ],
      '  ',
    );
  }
  return out;
}

/** `describe --details`: every backup hook run, in the order run per pod, with its outcome and output. */
export function hookLines(hooks: readonly HookResult[]): string {
  if (hooks.length === 0) return '  <none>\n';
  return hooks
    .map((hook) => {
      const head = `  ${hook.pod} ${hook.phase} ${JSON.stringify(hook.command)} in container ${hook.container}: ${hook.outcome}`;
      const detail =
        hook.outcome === 'Succeeded'
          ? ` (exit code 0, ${hook.durationMs ?? 0} ms)`
          : hook.message
            ? `: ${hook.message}`
            : '';
      const output = (['stdout', 'stderr'] as const)
        .filter((stream) => hook[stream])
        .map(
          (stream) =>
            `    ${stream}: ${(hook[stream] ?? '')
              .trimEnd()
              .split('\n')
              .join('\n    ' + ' '.repeat(stream.length + 2))}\n`,
        )
        .join('');
      return `${head}${detail}\n${output}`;
    })
    .join('');
}

/** `describe --details`: every pod volume of the backup, how it was protected, its outcome and why. */
export function podVolumeLines(records: readonly PodVolumeBackup[]): string {
  if (records.length === 0) return '  <none>\n';
  const sorted = [...records].sort((a, b) =>
    `${a.spec.pod.namespace}/${a.spec.pod.name}/${a.spec.volume}`.localeCompare(
      `${b.spec.pod.namespace}/${b.spec.pod.name}/${b.spec.volume}`,
    ),
  );
  return sorted
    .map((record) => {
      const { pod, volume, persistentVolumeClaim } = record.spec;
      const status = record.status ?? {};
      const what = `${pod.namespace}/${pod.name}/${volume}${persistentVolumeClaim ? ` (claim ${persistentVolumeClaim})` : ''}`;
      const detail =
        status.phase === 'Completed'
          ? `${record.spec.movedFrom ? `data moved from CSI snapshot ${record.spec.movedFrom}` : 'file-system backup'}, snapshot ${status.snapshotID?.slice(0, 8) ?? '?'}, ${status.files ?? 0} files, ` +
            `${status.bytes ?? 0} bytes, ${status.bytesUploaded ?? 0} stored anew`
          : (status.message ?? '');
      return `  ${what}: ${status.phase ?? 'New'}${detail ? `: ${detail}` : ''}\n`;
    })
    .join('');
}
