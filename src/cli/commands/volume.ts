// `cairn volume ...`: the files of a pod volume as a backup holds them. `ls` lists a directory of the
// volume's snapshot, `get` restores one path of it into a local directory (single-file restore) or writes
// one file to stdout. The backup's record of the volume (`<name>-podvolumebackups.json.gz`) names the
// snapshot and the repository; finding it, and the errors when there is none, are the volumes layer's.
import { Command, Option } from 'commander';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { CliIO } from '../io.ts';
import { addModeOptions, objectName, type ModeOptions } from '../options.ts';
import type { Backup } from '../../api/index.ts';
import type { BackupStore } from '../../storage/index.ts';
import { formatBytes, formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatTable } from '../table.ts';
import type { FileMode, Node, Repository } from '../../repo/index.ts';
import type { CompletedPodVolumeBackup, VolumeRepositories } from '../../volumes/index.ts';
import {
  isConfigured,
  openRepositories,
  serverLocation,
  serverLocations,
  serverScope,
  shortId,
  MODE_NOTE,
} from './volume-data.ts';

type SetExitCode = (code: number) => void;

/** Files (or restores) from this size on show progress on stderr. */
const PROGRESS_FROM_BYTES = 16 * 1024 * 1024;

interface LocationOption {
  storageLocation?: string;
}

/** A backup's pod volume, its snapshot's repository open. */
interface OpenedVolume {
  backup: string;
  record: CompletedPodVolumeBackup;
  repo: Repository;
  repositories: VolumeRepositories;
  /** The location whose repository holds the volume's files. */
  location: string;
  readOnly: boolean;
  /** `namespace/pod/volume`. */
  name: string;
}

/**
 * Finds the backup (in the configured locations, or --storage-location), its record of the pod volume,
 * and opens the repository that holds the volume's snapshot: the location the record names, when it is
 * configured here, else the one the backup was read from (the same store under another name).
 */
async function openVolume(
  io: CliIO,
  backup: string,
  volume: string,
  options: LocationOption & ModeOptions,
  setExitCode: SetExitCode,
  command: Command,
): Promise<OpenedVolume> {
  const { findPodVolumeBackup, formatPodVolumeRef, parsePodVolumeRef, readPodVolumeBackups } =
    await import('../../volumes/index.ts');
  const ref = parsePodVolumeRef(volume);
  const server = await serverScope(io, command, options);
  // Where the backup is read from, and whether the location its record names is one known here.
  let from: { store: BackupStore; location: string; knows: (location: string) => Promise<boolean> };
  if (server) {
    // Server mode: the Backup resource names its location; its record is read with the location's key.
    const { getResource } = await import('../../controller/index.ts');
    const resource = await getResource<Backup>(server, 'Backup', backup);
    if (!resource) throw new Error(`there is no Backup "${backup}" in namespace ${server.namespace}`);
    const locations = await serverLocations(server);
    const location = serverLocation(
      locations,
      server,
      options.storageLocation ?? resource.spec.storageLocation,
    ).metadata.name;
    const store = await locations.open(location, { createKey: false });
    from = { store, location, knows: (name) => Promise.resolve(locations.get(name) !== undefined) };
  } else {
    const { committedCopy } = await import('./backup-read.ts');
    const { copy } = await committedCopy(io, backup, options, setExitCode);
    from = { store: copy.store, location: copy.location, knows: (name) => isConfigured(io, name) };
  }
  const record = findPodVolumeBackup(await readPodVolumeBackups(from.store, backup), ref, backup);
  const locationName = (await from.knows(record.spec.location)) ? record.spec.location : from.location;
  const { repositories, location, readOnly } = await openRepositories(io, locationName, server);
  try {
    const repo = await repositories.repository(record.spec.repository, { create: false });
    return { backup, record, repo, repositories, location, readOnly, name: formatPodVolumeRef(ref) };
  } catch (error) {
    await repositories.close();
    throw error;
  }
}

/** SnapshotPathError and SnapshotNotFoundError, said in the words of the command. */
async function explained<T>(opened: OpenedVolume, run: () => Promise<T>): Promise<T> {
  const { SnapshotNotFoundError, SnapshotPathError } = await import('../../repo/index.ts');
  try {
    return await run();
  } catch (error) {
    if (error instanceof SnapshotPathError) {
      const prefix = `${JSON.stringify(error.path)} in the snapshot: `;
      const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      throw new Error(
        `${JSON.stringify(error.path)} in pod volume ${opened.name} of backup "${opened.backup}": ${reason}`,
        { cause: error },
      );
    }
    if (error instanceof SnapshotNotFoundError)
      throw new Error(
        `the snapshot ${shortId(opened.record.status.snapshotID)} of pod volume ${opened.name} in backup ` +
          `"${opened.backup}" is not in the repository restic/${opened.record.spec.repository}/ of location ` +
          `"${opened.location}" (removed by \`cairn repo forget\`?)`,
        { cause: error },
      );
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// How entries look

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const TYPE_CHARS: Record<string, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  chardev: 'c',
  dev: 'b',
  socket: 's',
};

/** The mode as `ls -l` shows it: `-rw-r--r--`, `drwxr-sr-x`, `lrwxrwxrwx`. */
export function lsMode(
  node: Pick<Node, 'type' | 'mode'>,
  bits: Pick<typeof FileMode, 'setuid' | 'setgid' | 'sticky'>,
): string {
  const has = (bit: number) => Math.floor(node.mode / bit) % 2 === 1;
  const perm = node.mode % 0o1000;
  const triple = (shift: number, special: boolean, letter: string) => {
    const r = perm & (4 << shift) ? 'r' : '-';
    const w = perm & (2 << shift) ? 'w' : '-';
    const executable = (perm & (1 << shift)) !== 0;
    const x = special ? (executable ? letter : letter.toUpperCase()) : executable ? 'x' : '-';
    return r + w + x;
  };
  return (
    (TYPE_CHARS[node.type] ?? '?') +
    triple(6, has(bits.setuid), 's') +
    triple(3, has(bits.setgid), 's') +
    triple(0, has(bits.sticky), 't')
  );
}

/** `2026-11-25 01:39:00 +0100`: the time as the snapshot recorded it, at its offset. */
function tableTime(rfc3339: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return rfc3339;
  const offset = m[3] === 'Z' ? '+0000' : (m[3] ?? '').replace(':', '');
  return `${m[1]} ${m[2]} ${offset}`;
}

interface ListedEntry {
  /** Relative to the listed directory; `/` at the end for directories. */
  name: string;
  /** From the volume's root. */
  path: string;
  type: string;
  mode: string;
  size: number;
  mtime: string;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  linkTarget?: string;
}

// ---------------------------------------------------------------------------------------------------
// The commands

const locationOption = () =>
  new Option(
    '--storage-location <name>',
    'read the backup from this location (default: every configured location)',
  ).argParser(objectName);

function lsCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('ls')
    .description("List the files of a pod volume as a backup holds them (its snapshot's directory)")
    .argument('<backup>', 'the backup')
    .argument(
      '<volume>',
      "NAMESPACE/POD/VOLUME: the pod's namespace and name in the backup, the volume's name",
    )
    .argument('[path]', 'a directory (or file) in the volume', '/')
    .option('-r, --recursive', 'list the directories below too')
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
Columns: TYPE, MODE (as ls -l shows it), SIZE (bytes, files only), MODIFIED (as the snapshot recorded it),
NAME (relative to PATH; directories end with /, symlinks show their target). -o json|yaml also gives the
owner and the snapshot. A volume the backup skipped, or failed to back up, is an error with the reason;
an unknown one, an error listing the pod volumes the backup has.

${MODE_NOTE}

Examples:
  cairn volume ls nightly shop/db-0/data
  cairn volume ls nightly shop/db-0/data pgdata/base -r
  cairn volume ls nightly shop/web-7d9f/cache / -o json`,
    )
    .action(
      async (
        backup: string,
        volume: string,
        path: string,
        options: LocationOption & ModeOptions & { recursive?: boolean; output: OutputFormat },
        command: Command,
      ) => {
        const { FileMode, formatNodeTime, listSnapshot, splitSnapshotPath } =
          await import('../../repo/index.ts');
        const opened = await openVolume(io, backup, volume, options, setExitCode, command);
        try {
          const base = splitSnapshotPath(path);
          const entries: ListedEntry[] = [];
          await explained(opened, async () => {
            for await (const { path: entryPath, node } of listSnapshot(
              opened.repo,
              opened.record.status.snapshotID,
              path,
              { recursive: options.recursive === true },
            )) {
              const parts = entryPath.split('/').filter(Boolean);
              // A file named by PATH lists as its own name.
              const relative = (parts.length > base.length ? parts.slice(base.length) : parts.slice(-1)).join(
                '/',
              );
              entries.push({
                name: relative + (node.type === 'dir' ? '/' : ''),
                path: entryPath,
                type: node.type,
                mode: lsMode(node, FileMode),
                size: node.type === 'file' ? (node.size ?? 0) : 0,
                mtime: formatNodeTime(node.mtime),
                uid: node.uid,
                gid: node.gid,
                ...(node.user ? { user: node.user } : {}),
                ...(node.group ? { group: node.group } : {}),
                ...(node.linkTarget !== undefined ? { linkTarget: node.linkTarget } : {}),
              });
            }
          });
          if (options.output !== 'table') {
            io.stdout.write(
              formatStructured(
                {
                  backup,
                  volume: opened.name,
                  location: opened.location,
                  repository: opened.record.spec.repository,
                  snapshotID: opened.record.status.snapshotID,
                  path: `/${base.join('/')}`,
                  entries,
                },
                options.output,
              ),
            );
          } else if (entries.length === 0) {
            io.stderr.write(`/${base.join('/')} of pod volume ${opened.name} is empty.\n`);
          } else {
            io.stdout.write(
              formatTable(
                ['TYPE', 'MODE', 'SIZE', 'MODIFIED', 'NAME'],
                entries.map((e) => [
                  e.type,
                  e.mode,
                  e.type === 'file' ? String(e.size) : '-',
                  tableTime(e.mtime),
                  e.linkTarget !== undefined ? `${e.name} -> ${e.linkTarget}` : e.name,
                ]),
              ),
            );
          }
        } finally {
          await opened.repositories.close();
        }
      },
    );
}

/** Writes a stream's bytes to stdout, waiting for it to drain. */
async function toStdout(io: CliIO, source: Readable, onBytes: (n: number) => void): Promise<void> {
  const out = io.stdout as CliIO['stdout'] & {
    write(chunk: Uint8Array): boolean;
    once?: (event: string, listener: () => void) => unknown;
  };
  for await (const chunk of source) {
    const bytes = chunk as Buffer;
    const ok = out.write(bytes);
    onBytes(bytes.length);
    if (ok === false && typeof out.once === 'function')
      await once(out as unknown as NodeJS.EventEmitter, 'drain');
  }
}

function getCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('get')
    .description(
      'Restore one file or directory of a pod volume, as a backup holds it, into a local directory (or a file to stdout)',
    )
    .argument('<backup>', 'the backup')
    .argument(
      '<volume>',
      "NAMESPACE/POD/VOLUME: the pod's namespace and name in the backup, the volume's name",
    )
    .argument('<path>', 'the file or directory in the volume (/ for all of it)')
    .requiredOption('--to <dir>', 'the local directory to restore into (made when missing), or - for stdout')
    .option('--overwrite', 'replace files that exist in the directory')
    .addOption(locationOption())
    .addHelpText(
      'after',
      `
PATH lands in DIR under its own name (DIR/<name>, as cp -a puts it; / puts the volume's entries in DIR),
with its contents, modes, times and (as root) owners; a directory with everything in it. Every block is
verified before it is written, and a file is written under a temporary name and renamed when complete.
Nothing is written when an entry it would replace exists, unless --overwrite (directories merge).
--to - writes one file's bytes to stdout. Progress goes to stderr for large ones.

Exit codes: 0 restored; 1 an error, or entries that could not be restored (each named on stderr).

${MODE_NOTE}

Examples:
  cairn volume get nightly shop/db-0/data pgdata/postgresql.conf --to /tmp/restore
  cairn volume get nightly shop/db-0/data uploads --to ./out --overwrite
  cairn volume get nightly shop/db-0/data dump.sql --to - | psql`,
    )
    .action(
      async (
        backup: string,
        volume: string,
        path: string,
        options: LocationOption & ModeOptions & { to: string; overwrite?: boolean },
        command: Command,
      ) => {
        const { progressReporter } = await import('../progress.ts');
        const opened = await openVolume(io, backup, volume, options, setExitCode, command);
        const snapshotId = opened.record.status.snapshotID;
        try {
          if (options.to === '-') {
            const { loadSnapshot, lookupPath, readFile } = await import('../../repo/index.ts');
            await explained(opened, async () => {
              const snapshot = await loadSnapshot(opened.repo, snapshotId);
              const { node } = await lookupPath(opened.repo, snapshot.tree, path);
              if (node?.type !== 'file')
                throw new Error(
                  `${JSON.stringify(path)} in pod volume ${opened.name} is ${node ? `a ${node.type}` : 'the volume'}, ` +
                    'not a file: --to - writes one file; give --to DIR to restore it',
                );
              const size = node.size ?? 0;
              const progress =
                size >= PROGRESS_FROM_BYTES
                  ? progressReporter(io.stderr, { unit: '', formatCount: formatBytes })
                  : undefined;
              let done = 0;
              try {
                await toStdout(io, await readFile(opened.repo, snapshotId, path), (n) => {
                  done += n;
                  progress?.update(done, size);
                });
              } finally {
                progress?.end();
              }
            });
            return;
          }
          const { restoreVolumePath } = await import('../../volumes/index.ts');
          const { splitSnapshotPath } = await import('../../repo/index.ts');
          const progress = progressReporter(io.stderr, { unit: '', formatCount: formatBytes });
          const result = await explained(opened, () =>
            restoreVolumePath({
              repo: opened.repo,
              snapshotId,
              path,
              target: options.to,
              overwrite: options.overwrite === true,
              lock: !opened.readOnly,
              onProgress: (p) => {
                if (p.total && p.total.bytes >= PROGRESS_FROM_BYTES)
                  progress.update(p.bytesDone, p.total.bytes, `${p.filesDone}/${p.total.files} files`);
              },
            }),
          ).finally(() => progress.end());
          const name = splitSnapshotPath(path).at(-1);
          const { stats, problems } = result;
          for (const problem of problems) io.stderr.write(`error: ${problem.path}: ${problem.reason}\n`);
          if (stats.skipped > 0)
            io.stderr.write(
              `warning: ${stats.skipped} entries appeared in ${options.to} meanwhile and were left as they were\n`,
            );
          io.stdout.write(
            `Restored ${name === undefined ? 'pod volume' : `${JSON.stringify(path)} of pod volume`} ${opened.name} ` +
              `(backup "${backup}", snapshot ${shortId(snapshotId)}) to ${name === undefined ? options.to : join(options.to, name)}: ` +
              [
                plural(stats.files, 'file'),
                plural(stats.dirs, 'directory', 'directories'),
                ...(stats.symlinks > 0 ? [plural(stats.symlinks, 'symlink')] : []),
              ].join(', ') +
              `, ${formatBytes(stats.bytesWritten + stats.sparseBytes)}` +
              (problems.length > 0 ? `; ${problems.length} entries could not be restored` : '') +
              '.\n',
          );
          if (problems.length > 0) setExitCode(1);
        } finally {
          await opened.repositories.close();
        }
      },
    );
}

export function volumeCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('volume')
    .description('Browse and restore the files of pod volumes that backups hold')
    .addCommand(addModeOptions(lsCommand(io, setExitCode)))
    .addCommand(addModeOptions(getCommand(io, setExitCode)));
}
