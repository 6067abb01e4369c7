// The commands that read the backup catalog: get, describe, logs, download, delete (the catalog itself is
// backup-catalog.ts; how a backup is shown, backup-describe.ts). Standalone mode reads
// every configured location (or the one named by --storage-location); a backup stored in several
// locations is one backup with several copies. Heavy modules (config.ts loads the storage drivers) are
// imported inside the actions, so `--help` stays fast.
import { Command, Option } from 'commander';
import { createWriteStream, existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createInterface } from 'node:readline';
import { type Readable, Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import {
  fromStoredResults,
  logLineMessage,
  type Backup,
  type DeleteBackupRequest,
  type DownloadTargetKind,
  type PodVolumeBackup,
} from '../../api/index.ts';
import type { BackupStore } from '../../storage/index.ts';
import type { HookResult } from '../../api/index.ts';
import type { CliIO } from '../io.ts';
import {
  addModeOptions,
  existingFile,
  httpUrl,
  kubeConfigOf,
  namespaceName,
  objectName,
  writableFile,
  type ModeOptions,
} from '../options.ts';
import type { KubeClient, KubeObject } from '../../kube/index.ts';
import type { VolumeDecision } from '../../volumes/index.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatFields, formatTable } from '../table.ts';
import {
  notFound,
  OutputFileExistsError,
  confirmDeletion,
  messageOf,
  openCatalog,
  reportUnavailable,
  checkName,
  copiesOf,
  listCatalog,
  isCommitted,
  unfinishedPhase,
  orphanReason,
  writerOf,
  backupOf,
  type Copy,
  type Catalog,
  type CommittedCopy,
} from './backup-catalog.ts';
import {
  goTime,
  rowOf,
  BACKUP_COLUMNS,
  resultLines,
  describeBackup,
  podVolumeLines,
  hookLines,
  expiresIn,
  selectorText,
  statusText,
} from './backup-describe.ts';
import { LABELS } from '../../api/index.ts';

type SetExitCode = (code: number) => void;

// ---------------------------------------------------------------------------------------------------
// The commands

interface LocationOption {
  storageLocation?: string;
}

const locationOption = () =>
  new Option(
    '--storage-location <name>',
    'read only this location (default: every configured location)',
  ).argParser(objectName);

/** The committed copy to read `name` from, in config order; errors when there is none. */
export async function committedCopy(
  io: CliIO,
  name: string,
  options: LocationOption,
  setExitCode: SetExitCode,
): Promise<{ copy: CommittedCopy; copies: Copy[]; catalog: Catalog }> {
  checkName(name);
  const catalog = await openCatalog(io, options.storageLocation);
  const copies = await copiesOf(catalog, name);
  reportUnavailable(io, catalog, setExitCode);
  const copy = copies.find(isCommitted);
  if (copy) return { copy, copies, catalog };
  if (copies.length === 0) throw notFound([name], catalog);
  throw new BackupIncompleteError(
    name,
    copies.map((c) => c.location),
  );
}

/** The backup has files but no velero-backup.json: it is running or was interrupted. */
export class BackupIncompleteError extends Error {
  override readonly name = 'BackupIncompleteError';
  readonly backup: string;
  readonly locations: string[];
  constructor(backup: string, locations: string[]) {
    super(
      `backup "${backup}" is incomplete in ${locations.map((l) => `"${l}"`).join(', ')}: it has no ` +
        'velero-backup.json (it is still running, or was interrupted; `cairn backup delete` removes it)',
    );
    this.backup = backup;
    this.locations = locations;
  }
}

function getCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return addModeOptions(
    new Command('get')
      .description(
        "List backups, from every configured location (one row per backup), or the server's Backup resources when one is installed",
      )
      .argument('[name...]', 'only these backups'),
  )
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
In server mode (a server installed in --namespace, default cairn) the rows are the cluster's Backup
resources, which the server's catalog sync keeps in step with the locations.

Examples:
  cairn backup get
  cairn backup get shop nightly
  cairn backup get --storage-location minio -o json`,
    )
    .action(
      async (
        names: string[],
        options: LocationOption & ModeOptions & { output: OutputFormat },
        command: Command,
      ) => {
        for (const name of names) checkName(name);
        const now = new Date();
        const { serverClient } = await import('../server-mode.ts');
        const server = await serverClient(io, command, options);
        if (server) {
          refuseLocationFlag(options);
          await getFromServer(io, server, names, options, now, setExitCode);
          return;
        }
        const catalog = await openCatalog(io, options.storageLocation);
        let rows: [string, Copy[]][];
        const missing: string[] = [];
        if (names.length > 0) {
          rows = [];
          for (const name of [...new Set(names)]) {
            const copies = await copiesOf(catalog, name);
            if (copies.length > 0) rows.push([name, copies]);
            else missing.push(name);
          }
        } else {
          rows = [...(await listCatalog(catalog))];
        }
        reportUnavailable(io, catalog, setExitCode);
        if (options.output !== 'table') {
          const items = await Promise.all(rows.map(([, copies]) => backupOf(copies, now)));
          io.stdout.write(formatStructured({ apiVersion: 'v1', kind: 'List', items }, options.output));
        } else if (rows.length > 0) {
          io.stdout.write(
            formatTable(BACKUP_COLUMNS, await Promise.all(rows.map(([, copies]) => rowOf(copies, now)))),
          );
        } else if (missing.length === 0) {
          const read = catalog.searched.filter((l) => !catalog.unavailable.some((u) => u.location === l));
          if (read.length > 0)
            io.stderr.write(`No backups found in ${read.map((l) => `"${l}"`).join(', ')}.\n`);
        }
        if (missing.length > 0) throw notFound(missing, catalog);
      },
    );
}

function describeCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return addModeOptions(
    new Command('describe')
      .description('Show a backup in detail: selection, locations, encryption, consistency, results')
      .argument('<name>', 'the backup')
      .option('--details', 'also list every item backed up, by resource')
      .addOption(locationOption())
      .option(
        '--server-url <url>',
        "server mode, --details: reach the server's file URLs here (e.g. https://127.0.0.1:8085 after kubectl port-forward -n cairn deploy/cairn 8085)",
        httpUrl,
      )
      .option(
        '--server-ca-file <file>',
        "trust this CA (PEM) for the server's certificate (with --details)",
        existingFile,
      )
      .addOption(
        new Option('-o, --output <format>', 'print the Backup object as json or yaml').argParser(
          parseOutputFormat,
        ),
      )
      .addHelpText(
        'after',
        `
In server mode --details reads the backup's files (results, resource list, hooks, volumes) through
the server: a DownloadRequest each, answered with a short-lived URL that serves the file decrypted.

Examples:
  cairn backup describe shop
  cairn backup describe shop --details
  cairn backup describe shop --details --server-url https://127.0.0.1:8085
  cairn backup describe shop --storage-location minio -o yaml`,
      ),
  ).action(
    async (
      name: string,
      options: LocationOption &
        ModeOptions & { details?: boolean; output?: OutputFormat; serverUrl?: string; serverCaFile?: string },
      command: Command,
    ) => {
      checkName(name);
      const now = new Date();
      const { serverClient } = await import('../server-mode.ts');
      const server = await serverClient(io, command, options);
      if (server) {
        refuseLocationFlag(options);
        await describeFromServer(io, server, name, options, { now, command, setExitCode });
        return;
      }
      const catalog = await openCatalog(io, options.storageLocation);
      const copies = await copiesOf(catalog, name);
      reportUnavailable(io, catalog, setExitCode);
      if (copies.length === 0) throw notFound([name], catalog);
      const primary = copies.find(isCommitted);
      if (options.output && options.output !== 'table') {
        io.stdout.write(
          formatStructured(primary ? primary.entry.backup : await backupOf(copies, now), options.output),
        );
        return;
      }
      if (!primary) {
        const first = copies[0];
        const claim = first && !first.entry.complete ? first.entry.claim : undefined;
        const phase = await unfinishedPhase(claim, now);
        io.stdout.write(
          formatFields([
            ['Name', name],
            ['Phase', phase],
            ['Started', goTime(claim?.startedAt)],
            ['Written by', writerOf(claim)],
            ['Last heartbeat', goTime(claim?.heartbeatAt)],
            ['Storage locations', copies.map((c) => c.location).join(', ')],
          ]) +
            (phase === 'Failed (orphaned)'
              ? `\nFailure reason: ${orphanReason(claim)}.\n\`cairn backup delete ${name}\` removes its files and frees the name.\n`
              : phase === 'InProgress'
                ? '\nThe backup is running: it has no velero-backup.json yet.\n'
                : `\nThe backup has no velero-backup.json: it was interrupted. \`cairn backup delete ${name}\` removes it.\n`),
        );
        return;
      }
      io.stdout.write(await describeBackup(primary, copies, catalog, now));
      await writeBackupFiles(
        io,
        {
          backup: primary.entry.backup,
          read: (file) => readJsonFile(primary.store, name, file),
          reading: `from location "${primary.location}"`,
          location: primary.location,
          details: options.details === true,
        },
        setExitCode,
      );
    },
  );
}

/** The files of a backup `describe` shows, by their name in the backup store. */
type DescribedFile =
  | 'results'
  | 'resourceList'
  | 'podVolumeBackups'
  | 'hookResults'
  | 'volumeDecisions'
  | 'csiVolumeSnapshots'
  | 'csiVolumeSnapshotContents';

/**
 * The part of `describe` read from the backup's files: its results, and with --details its resource
 * list, hooks, CSI snapshots, volume decisions and pod volumes. `read` gives a file parsed, or undefined
 * when the backup has none: from a location here, or through the server's DownloadRequests.
 */
async function writeBackupFiles(
  io: CliIO,
  shown: {
    backup: Backup;
    read: (file: DescribedFile) => Promise<unknown>;
    /** `from location "x"`, for the messages of files that cannot be read. */
    reading: string;
    location: string;
    details: boolean;
  },
  setExitCode: SetExitCode,
): Promise<void> {
  const { backup, read, reading } = shown;
  const status = backup.status ?? {};
  // The results and the resource list are optional files (Velero writes them late, and a backup that
  // failed early may have neither): a missing one is shown as none; one that cannot be read is an error.
  try {
    const results = fromStoredResults(await read('results'));
    io.stdout.write('\n' + resultLines('Errors', status.errors ?? 0, results.errors));
    io.stdout.write(resultLines('Warnings', status.warnings ?? 0, results.warnings));
  } catch (error) {
    io.stdout.write(`\nErrors:    ${status.errors ?? 0}\nWarnings:  ${status.warnings ?? 0}\n`);
    io.stderr.write(`error: cannot read the results ${reading}: ${messageOf(error)}\n`);
    setExitCode(1);
  }
  if (!shown.details) return;
  try {
    const resources = ((await read('resourceList')) ?? {}) as Record<string, string[]>;
    io.stdout.write('\nResource list:\n');
    const kinds = Object.keys(resources).sort();
    if (kinds.length === 0) io.stdout.write('  <none>\n');
    for (const kind of kinds)
      io.stdout.write(`  ${kind}:\n${(resources[kind] ?? []).map((item) => `    - ${item}\n`).join('')}`);
  } catch (error) {
    io.stderr.write(`error: cannot read the resource list ${reading}: ${messageOf(error)}\n`);
    setExitCode(1);
  }
  if (status.hookStatus)
    try {
      const hooks = ((await read('hookResults')) ?? []) as HookResult[];
      io.stdout.write('\nHooks:\n' + hookLines(hooks));
    } catch (error) {
      io.stderr.write(`error: cannot read the hook results ${reading}: ${messageOf(error)}\n`);
      setExitCode(1);
    }
  if (status.csiVolumeSnapshotsAttempted !== undefined)
    try {
      const { snapshotRecords } = await import('../../volumes/index.ts');
      const list = async (file: DescribedFile) => {
        const items = await read(file);
        return (Array.isArray(items) ? items : []) as KubeObject[];
      };
      const records = snapshotRecords(
        await list('csiVolumeSnapshots'),
        await list('csiVolumeSnapshotContents'),
      );
      io.stdout.write(
        '\nCSI volume snapshots:\n' +
          (records.length === 0
            ? '  <none> (the failed ones are in the errors above)\n'
            : records
                .map(
                  (r) =>
                    `  ${r.namespace}/${r.claim}: snapshot ${r.snapshotHandle} of volume ${r.volume || '?'} (driver ${r.driver}, class ${r.className}, VolumeSnapshotContent ${r.contentName}${r.restoreSize ? `, size ${r.restoreSize}` : ''})\n`,
                )
                .join('')),
      );
    } catch (error) {
      io.stderr.write(`error: cannot read the CSI snapshot records ${reading}: ${messageOf(error)}\n`);
      setExitCode(1);
    }
  try {
    const decisions = (await read('volumeDecisions')) as VolumeDecision[] | undefined;
    if (decisions) {
      const { decisionLine } = await import('../../volumes/index.ts');
      io.stdout.write(
        '\nVolumes (the action for each, and what chose it):\n' +
          decisions.map((d) => `  ${decisionLine(d)}\n`).join(''),
      );
    }
  } catch (error) {
    io.stderr.write(`error: cannot read the volume decisions ${reading}: ${messageOf(error)}\n`);
    setExitCode(1);
  }
  if (!status.podVolumeBackups) return;
  try {
    const records = ((await read('podVolumeBackups')) ?? []) as PodVolumeBackup[];
    // Each location's copy lists the volume data that location holds: say which one this is.
    const several = (backup.spec.storageLocations?.length ?? 1) > 1;
    io.stdout.write(
      `\nPod volumes${several ? ` (their data in location "${shown.location}")` : ''}:\n` +
        podVolumeLines(records),
    );
  } catch (error) {
    io.stderr.write(`error: cannot read the pod volume records ${reading}: ${messageOf(error)}\n`);
    setExitCode(1);
  }
}

/** A gzipped JSON file of a backup, decrypted; undefined when the backup has no such file. */
async function readJsonFile(store: BackupStore, name: string, file: DescribedFile): Promise<unknown> {
  const { ObjectNotFoundError } = await import('../../storage/index.ts');
  let stream: Readable;
  try {
    stream = await store.openFile(name, file);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
  const bytes = await promisify(gunzip)(await buffer(stream));
  return JSON.parse(bytes.toString('utf8')) as unknown;
}

/** One log line as a person reads it: `time level message key=value...`. */
function readableLogLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { time, level, msg: _msg, message: _message, ...rest } = entry;
  const message = logLineMessage(entry);
  const extra = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value ?? ''));
  return [text(time), text(level).padEnd(7), text(message), ...extra].join(' ');
}

function logsCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('logs')
    .description("Print a backup's log")
    .argument('<name>', 'the backup')
    .addOption(locationOption())
    .addOption(
      new Option('-o, --output <format>', 'json prints the stored JSON lines as they are')
        .choices(['text', 'json'])
        .default('text'),
    )
    .option(
      '--server-url <url>',
      "server mode: read it through Cairn's server (e.g. https://localhost:8085 after kubectl port-forward -n cairn deploy/cairn 8085)",
      httpUrl,
    )
    .option(
      '--server-ca-file <file>',
      "trust this CA (PEM) for the server's certificate (default: the one in ConfigMap cairn-ca of its namespace)",
      existingFile,
    )
    .option('--server', "read it through Cairn's server (fails when it is not installed)")
    .option('--standalone', 'read it from the locations configured here, even when a server is installed')
    .option(
      '-n, --namespace <ns>',
      "the server's namespace (server mode, --server-url)",
      namespaceName,
      'cairn',
    )
    .addHelpText(
      'after',
      `
In server mode (a server installed in --namespace, default cairn) the log comes through the server, as
Velero's does: a DownloadRequest, which the server answers with a short-lived URL of its own that serves
the log decrypted; any kubeconfig that may create DownloadRequests there works, client certificates
included. --server-url replaces the URL's origin (from outside the cluster, after kubectl port-forward).

Without a server you can see, --server-url alone reads the log from the backup's location for you: no store credentials or
key are needed here. It checks your kubeconfig's bearer token with the API server (TokenReview) and
that you may get backups/logs in its namespace (SubjectAccessReview). The token goes over HTTPS (or plain
HTTP to a loopback address only); the server's certificate is verified against the CA it publishes in
the ConfigMap cairn-ca of its namespace, read with your kubeconfig, unless --server-ca-file is given.

Examples:
  cairn backup logs shop
  cairn backup logs shop -o json | jq -r 'select(.level != "info") | .msg'
  cairn backup logs shop --server-url https://127.0.0.1:8085      (server mode, through a port-forward)
  cairn backup logs nightly-20261130020000 --server-url https://localhost:8085`,
    )
    .action(
      async (
        name: string,
        options: LocationOption &
          ModeOptions & {
            output: 'text' | 'json';
            serverUrl?: string;
            serverCaFile?: string;
          },
        command: Command,
      ) => {
        checkName(name);
        let input: NodeJS.ReadableStream;
        const { serverClient } = await import('../server-mode.ts');
        const server = await serverClient(io, command, options);
        if (server) {
          refuseLocationFlag(options);
          const { ServerFiles } = await import('../server-files.ts');
          const files = new ServerFiles({
            client: server,
            namespace: options.namespace,
            serverUrl: options.serverUrl,
            serverCaFile: options.serverCaFile,
            kubeConfig: () => kubeConfigOf(io, command),
          });
          input = await files.open('BackupLog', name);
        } else if (options.serverUrl) {
          input = await logsFromServer(io, command, { ...options, serverUrl: options.serverUrl }, name);
        } else {
          const { copy } = await committedCopy(io, name, options, setExitCode);
          const gunzip = createGunzip();
          const source = await copy.store.openFile(name, 'logs');
          source.on('error', (error) => gunzip.destroy(error));
          input = source.pipe(gunzip);
        }
        const lines = createInterface({ input, crlfDelay: Infinity });
        for await (const line of lines) {
          if (line.trim() === '') continue;
          io.stdout.write((options.output === 'json' ? line : readableLogLine(line)) + '\n');
        }
      },
    );
}

/**
 * --storage-location picks a location configured on this machine; the server knows its own locations,
 * and deleting "from one location" through it would delete from all: refused rather than ignored.
 */
function refuseLocationFlag(options: { storageLocation?: string | undefined; namespace: string }): void {
  if (options.storageLocation !== undefined)
    throw new Error(
      `--storage-location "${options.storageLocation}" selects a location of this machine's configuration; ` +
        `Cairn's server in namespace ${options.namespace} works with its own (add --standalone to use yours)`,
    );
}

/** `backup get` in server mode: the Backup resources, under the same columns. */
async function getFromServer(
  io: CliIO,
  client: KubeClient,
  names: string[],
  options: ModeOptions & { output: OutputFormat },
  now: Date,
  setExitCode: SetExitCode,
): Promise<void> {
  const { resourcePath } = await import('../../controller/index.ts');
  const all = (await client.json<{ items: Backup[] }>({ path: resourcePath('Backup', options.namespace) }))
    .items;
  const wanted = names.length > 0 ? all.filter((b) => names.includes(b.metadata.name)) : all;
  const missing = names.filter((n) => !all.some((b) => b.metadata.name === n));
  if (options.output !== 'table') {
    io.stdout.write(formatStructured({ apiVersion: 'v1', kind: 'List', items: wanted }, options.output));
  } else if (wanted.length > 0) {
    io.stdout.write(
      formatTable(
        BACKUP_COLUMNS,
        wanted
          .sort((a, b) =>
            (a.metadata.creationTimestamp ?? '') < (b.metadata.creationTimestamp ?? '') ? 1 : -1,
          )
          .map((b) => [
            b.metadata.name,
            statusText(b.status),
            String(b.status?.errors ?? 0),
            String(b.status?.warnings ?? 0),
            goTime(b.status?.startTimestamp ?? b.metadata.creationTimestamp),
            expiresIn(b.status?.expiration, now),
            b.status?.locations?.map((l) => l.name).join(',') ?? b.spec.storageLocation ?? '',
            selectorText(b),
          ]),
      ),
    );
  } else if (names.length === 0) io.stdout.write(`No backups in namespace ${options.namespace}.\n`);
  if (missing.length > 0) {
    setExitCode(1);
    io.stderr.write(
      `error: no backup named ${missing.map((n) => `"${n}"`).join(', ')} in namespace ${options.namespace}\n`,
    );
  }
}

/** `backup describe` in server mode: the Backup resource as the server (or the catalog sync) wrote it. */
async function describeFromServer(
  io: CliIO,
  client: KubeClient,
  name: string,
  options: ModeOptions & {
    details?: boolean;
    output?: OutputFormat;
    serverUrl?: string;
    serverCaFile?: string;
  },
  context: { now: Date; command: Command; setExitCode: SetExitCode },
): Promise<void> {
  const { now } = context;
  const { KubeApiError } = await import('../../kube/index.ts');
  const { resourcePath } = await import('../../controller/index.ts');
  let backup: Backup;
  try {
    backup = await client.json<Backup>({ path: resourcePath('Backup', options.namespace, name) });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404)
      throw new Error(`no backup named "${name}" in namespace ${options.namespace}`, { cause: error });
    throw error;
  }
  if (options.output && options.output !== 'table') {
    io.stdout.write(formatStructured(backup, options.output));
    return;
  }
  const stored = (backup.status?.locations ?? []).filter((l) => l.phase === 'Completed').map((l) => l.name);
  // The locations as the server recorded them: each Completed one holds a committed copy. describeBackup
  // reads the copies' entries, never their stores (none is opened here: the server holds the credentials).
  const copies = stored.map((location): CommittedCopy => ({
    location,
    store: undefined as unknown as BackupStore,
    entry: { name, complete: true, backup },
  }));
  const catalog: Catalog = { searched: stored, unavailable: [], stores: [] };
  const primary = copies[0] ?? {
    location: backup.spec.storageLocation ?? '',
    store: undefined as unknown as BackupStore,
    entry: { name, complete: true as const, backup },
  };
  io.stdout.write(await describeBackup(primary, copies, catalog, now));
  for (const problem of backup.status?.validationErrors ?? [])
    io.stdout.write(`Validation error: ${problem}\n`);
  if (backup.status?.failureReason) io.stdout.write(`Failure reason: ${backup.status.failureReason}\n`);
  if (!options.details) return;
  // The files through the server's DownloadRequests, each asked for at once (the server answers them in
  // turn), then printed in order.
  const { ServerFiles } = await import('../server-files.ts');
  const files = new ServerFiles({
    client,
    namespace: options.namespace,
    serverUrl: options.serverUrl,
    serverCaFile: options.serverCaFile,
    kubeConfig: () => kubeConfigOf(io, context.command),
  });
  const asked = new Map<DescribedFile, Promise<unknown>>();
  const read = (file: DescribedFile): Promise<unknown> => {
    let pending = asked.get(file);
    if (!pending) {
      pending = files.json(SERVER_FILE_KINDS[file], name);
      // Handled where it is awaited; until then a refusal must not count as unhandled.
      pending.catch(() => undefined);
      asked.set(file, pending);
    }
    return pending;
  };
  const status = backup.status ?? {};
  for (const file of [
    'results',
    'resourceList',
    ...(status.hookStatus ? (['hookResults'] as const) : []),
    ...(status.csiVolumeSnapshotsAttempted !== undefined
      ? (['csiVolumeSnapshots', 'csiVolumeSnapshotContents'] as const)
      : []),
    'volumeDecisions',
    ...(status.podVolumeBackups ? (['podVolumeBackups'] as const) : []),
  ] as const)
    void read(file);
  await writeBackupFiles(
    io,
    {
      backup,
      read,
      reading: `through the server (namespace ${options.namespace})`,
      location: primary.location,
      details: true,
    },
    context.setExitCode,
  );
}

/** The DownloadRequest kind of each file `describe --details` reads. */
const SERVER_FILE_KINDS: Readonly<Record<DescribedFile, DownloadTargetKind>> = {
  results: 'BackupResults',
  resourceList: 'BackupResourceList',
  hookResults: 'BackupHookResults',
  podVolumeBackups: 'BackupPodVolumeBackups',
  volumeDecisions: 'BackupVolumeDecisions',
  csiVolumeSnapshots: 'CSIBackupVolumeSnapshots',
  csiVolumeSnapshotContents: 'CSIBackupVolumeSnapshotContents',
};

/** `backup delete` in server mode: a DeleteBackupRequest per backup, each followed until Processed. */
async function deleteThroughServer(
  io: CliIO,
  client: KubeClient,
  names: string[],
  options: ModeOptions & { confirm?: boolean },
  setExitCode: SetExitCode,
): Promise<void> {
  const { resourcePath } = await import('../../controller/index.ts');
  const { CAIRN_API_VERSION } = await import('../../api/index.ts');
  const existing = new Set(
    (await client.json<{ items: Backup[] }>({ path: resourcePath('Backup', options.namespace) })).items.map(
      (b) => b.metadata.name,
    ),
  );
  const missing = names.filter((n) => !existing.has(n));
  if (missing.length > 0) {
    setExitCode(1);
    io.stderr.write(
      `error: no backup named ${missing.map((n) => `"${n}"`).join(', ')} in namespace ${options.namespace}\n`,
    );
  }
  const targets = names.filter((n) => existing.has(n));
  if (targets.length === 0) return;
  const what = `backup${targets.length === 1 ? '' : 's'} ${targets.join(', ')}`;
  const yes = await confirmDeletion(io, {
    confirmed: options.confirm === true,
    question: `Are you sure you want to delete ${what} (namespace ${options.namespace}, every location)?`,
    what,
  });
  if (!yes) {
    io.stderr.write('Nothing was deleted.\n');
    return;
  }
  for (const name of targets) {
    const request = await client.json<DeleteBackupRequest>({
      method: 'POST',
      path: resourcePath('DeleteBackupRequest', options.namespace),
      body: {
        apiVersion: CAIRN_API_VERSION,
        kind: 'DeleteBackupRequest',
        metadata: {
          generateName: `${name.slice(0, 240)}-`,
          labels: { [LABELS.veleroBackupName]: name.slice(0, 63) },
        },
        spec: { backupName: name },
      },
    });
    let current = request;
    while (current.status?.phase !== 'Processed') {
      await new Promise((resolve) => setTimeout(resolve, 500));
      current = await client.json<DeleteBackupRequest>({
        path: resourcePath('DeleteBackupRequest', options.namespace, request.metadata.name),
      });
    }
    const errors = current.status.errors ?? [];
    if (errors.length === 0)
      io.stdout.write(`Backup "${name}" deleted (request ${request.metadata.name}).\n`);
    else {
      setExitCode(1);
      io.stdout.write(`Backup "${name}" was not deleted (request ${request.metadata.name}):\n`);
      for (const error of errors) io.stdout.write(`  ${error}\n`);
    }
  }
}

/**
 * A backup's log through the server's authorized endpoint, with the kubeconfig's bearer token, over HTTPS
 * verified against the server's published CA (server-trust.ts). node:https rather than fetch: fetch takes
 * no CA of its own.
 */
async function logsFromServer(
  io: CliIO,
  command: Command,
  options: { serverUrl: string; namespace: string; serverCaFile?: string | undefined },
  name: string,
): Promise<NodeJS.ReadableStream> {
  const { bearerTokenOf } = await import('../server-mode.ts');
  const { serverTrust } = await import('../server-trust.ts');
  const trust = await serverTrust({
    serverUrl: options.serverUrl,
    flag: '--server-url',
    namespace: options.namespace,
    caFile: options.serverCaFile,
    kubeConfig: () => kubeConfigOf(io, command),
  });
  const token = await bearerTokenOf(await kubeConfigOf(io, command));
  const url = new URL(
    `${trust.url.pathname.replace(/\/+$/, '')}/v1/namespaces/${encodeURIComponent(options.namespace)}/backups/${encodeURIComponent(name)}/logs`,
    trust.url,
  );
  const get = url.protocol === 'https:' ? httpsGet : httpGet;
  let res: IncomingMessage;
  try {
    res = await new Promise<IncomingMessage>((resolve, reject) => {
      get(
        url,
        { headers: { Authorization: `Bearer ${token}` }, ...(trust.ca ? { ca: trust.ca } : {}) },
        resolve,
      ).on('error', reject);
    });
  } catch (error) {
    throw new Error(
      `cannot reach the server at ${options.serverUrl}: ${(error as Error).message} (verified against ${trust.against})`,
      { cause: error },
    );
  }
  if (res.statusCode !== 200)
    throw new Error(`the server answered ${res.statusCode}: ${(await buffer(res)).toString('utf8').trim()}`);
  return res;
}

function downloadCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('download')
    .description("Write a backup's archive (Velero format, decrypted) to a file")
    .argument('<name>', 'the backup')
    .option('-o, --output <file>', 'the file to write (default: ./NAME-data.tar.gz)', writableFile)
    .option('--force', 'overwrite the file if it exists')
    .addOption(locationOption())
    .addHelpText(
      'after',
      `
The archive holds every backed-up object, Secrets included, unencrypted: the file is created with
mode 0600. Keep it as safe as the cluster's secrets.

Examples:
  cairn backup download shop
  cairn backup download shop -o /tmp/shop.tar.gz --force
  cairn backup download shop --storage-location minio`,
    )
    .action(async (name: string, options: LocationOption & { output?: string; force?: boolean }) => {
      const target = options.output ?? `./${name}-data.tar.gz`;
      if (existsSync(target) && !options.force) throw new OutputFileExistsError(target);
      const { copy } = await committedCopy(io, name, options, setExitCode);
      // Into a temporary file first: a failed or interrupted download never looks like a whole archive.
      const partial = `${resolve(target)}.partial-${process.pid}`;
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline(
          await copy.store.openFile(name, 'archive'),
          count,
          createWriteStream(partial, { flags: 'wx', mode: 0o600 }),
        );
        if (existsSync(target) && !options.force) throw new OutputFileExistsError(target);
        await rename(partial, target);
      } catch (error) {
        await rm(partial, { force: true });
        throw error;
      }
      io.stdout.write(
        `Backup "${name}" downloaded from location "${copy.location}" to ${target} (${bytes} bytes).\n`,
      );
    });
}

function deleteCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return addModeOptions(
    new Command('delete')
      .description(
        'Delete backups from every location that has them (or from one location); through the server when one is installed',
      )
      .argument('<name...>', 'the backups'),
  )
    .option('--confirm', 'delete without asking')
    .option('--force', 'also delete a backup that is still running (its writer alive, its heartbeat fresh)')
    .addOption(
      new Option(
        '--storage-location <name>',
        'delete only from this location (default: every location)',
      ).argParser(objectName),
    )
    .addHelpText(
      'after',
      `
Without --confirm, asks on the terminal; without a terminal (scripts, CI), --confirm is required.
In server mode each deletion is a DeleteBackupRequest the server carries out (refusing a backup whose
delete lock holds, or one in a ReadOnly location); the command waits for each and prints its outcome.

Examples:
  cairn backup delete shop
  cairn backup delete shop nightly --confirm
  cairn backup delete shop --storage-location minio --confirm`,
    )
    .action(
      async (
        names: string[],
        options: LocationOption & ModeOptions & { confirm?: boolean; force?: boolean },
        command: Command,
      ) => {
        const { ReadOnlyStoreError } = await import('../../storage/index.ts');
        for (const name of names) checkName(name);
        const { serverClient } = await import('../server-mode.ts');
        const server = await serverClient(io, command, options);
        if (server) {
          refuseLocationFlag(options);
          await deleteThroughServer(io, server, [...new Set(names)], options, setExitCode);
          return;
        }
        const catalog = await openCatalog(io, options.storageLocation);
        const targets: { name: string; copies: Copy[] }[] = [];
        const missing: string[] = [];
        for (const name of [...new Set(names)]) {
          const copies = await copiesOf(catalog, name);
          if (copies.length > 0) targets.push({ name, copies });
          else missing.push(name);
        }
        reportUnavailable(io, catalog, setExitCode);
        if (targets.length === 0) throw notFound(missing, catalog);
        // As the server refuses a running backup: deleting it under a live writer frees a name it still
        // writes to (the writer then fails, its claim gone). An orphaned or incomplete one is deleted.
        const now = new Date();
        for (const { name, copies } of targets) {
          if (options.force || copies.some(isCommitted)) continue;
          for (const copy of copies) {
            const claim = copy.entry.complete ? undefined : copy.entry.claim;
            if ((await unfinishedPhase(claim, now)) !== 'InProgress') continue;
            throw new Error(
              `backup "${name}" is InProgress in location "${copy.location}": its writer (${writerOf(claim)}) ` +
                `is alive, last heartbeat ${claim?.heartbeatAt ?? claim?.startedAt ?? '<unknown>'}; delete it ` +
                'once it has finished, or pass --force to delete it now (the running backup then fails). Nothing was deleted.',
            );
          }
        }
        const what = `backup${targets.length === 1 ? '' : 's'} ${targets.map((t) => t.name).join(', ')}`;
        const where =
          options.storageLocation === undefined ? 'every location' : `location ${options.storageLocation}`;
        const yes = await confirmDeletion(io, {
          confirmed: options.confirm === true,
          question: `Are you sure you want to delete ${what} from ${where}?`,
          what,
        });
        if (!yes) {
          io.stderr.write('Nothing was deleted.\n');
          return;
        }
        const { fileRepositoryPasswords } = await import('../config.ts');
        const { deleteBackupSnapshots, forgetBackupSnapshots, VolumeRepositories } =
          await import('../../volumes/index.ts');
        const kube = async () => {
          const { KubeClient } = await import('../../kube/index.ts');
          return new KubeClient(await kubeConfigOf(io, command));
        };
        for (const { name, copies } of targets) {
          // Its CSI snapshots first (the cluster's): a backup whose snapshots cannot be deleted stays. Every
          // location's copy names them all: while a copy stays elsewhere, so do they.
          const first = copies[0];
          const deleting = new Set(copies.map((c) => c.location));
          const committed = copies.find((c) => c.entry.complete);
          const elsewhere =
            committed && committed.entry.complete
              ? (committed.entry.backup.spec.storageLocations ?? []).filter((l) => !deleting.has(l))
              : [];
          // Only a backup whose status counts snapshots has records to read (an unreadable copy, its key
          // gone, is still deleted when it took none).
          const tookSnapshots = copies.some(
            (c) => c.entry.complete && (c.entry.backup.status?.csiVolumeSnapshotsCompleted ?? 0) > 0,
          );
          if (tookSnapshots && elsewhere.length > 0) {
            io.stdout.write(
              `The CSI snapshots of backup "${name}" are kept: its copies in ${elsewhere.join(', ')} still name them.\n`,
            );
          } else if (first && tookSnapshots) {
            const csi = await deleteBackupSnapshots(kube, first.store, name);
            if (csi.deleted > 0)
              io.stdout.write(`Deleted ${csi.deleted} CSI snapshots of backup "${name}".\n`);
            if (csi.problems.length > 0) {
              for (const problem of csi.problems) io.stderr.write(`error: ${problem}\n`);
              io.stderr.write(`Backup "${name}" was not deleted.\n`);
              setExitCode(1);
              continue;
            }
          }
          for (const copy of copies) {
            try {
              // The backup's volume snapshots go first: its records are the only list of them.
              const repositories = new VolumeRepositories({
                location: copy.location,
                store: copy.store.store,
                passwords: fileRepositoryPasswords(io.env),
              });
              const snapshots = await forgetBackupSnapshots(copy.store, name, repositories).finally(() =>
                repositories.close(),
              );
              for (const [namespace, ids] of Object.entries(snapshots.forgotten))
                io.stdout.write(
                  `Forgot ${ids.length} volume snapshots of backup "${name}" in repository restic/${namespace}/ ` +
                    `of location "${copy.location}" (\`cairn repo prune ${namespace}\` frees their data).\n`,
                );
              for (const problem of snapshots.problems) io.stderr.write(`warning: ${problem}\n`);
              const { deleted } = await copy.store.deleteBackup(name);
              io.stdout.write(
                `Deleted backup "${name}" from location "${copy.location}" (${deleted} files).\n`,
              );
            } catch (error) {
              const reason =
                error instanceof ReadOnlyStoreError
                  ? `the location is read-only (${error.message})`
                  : messageOf(error);
              io.stderr.write(
                `error: could not delete backup "${name}" from location "${copy.location}": ${reason}\n`,
              );
              setExitCode(1);
            }
          }
        }
        if (missing.length > 0) throw notFound(missing, catalog);
      },
    );
}

export function addBackupReadCommands(backup: Command, io: CliIO, setExitCode: SetExitCode): void {
  backup
    .addCommand(getCommand(io, setExitCode))
    .addCommand(describeCommand(io, setExitCode))
    .addCommand(logsCommand(io, setExitCode))
    .addCommand(downloadCommand(io, setExitCode))
    .addCommand(deleteCommand(io, setExitCode));
}
