// `cairn backup ...`: create (standalone: runs the engine here, into the configured locations) and the
// commands that read the catalog (backup-read.ts).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Backup, BackupSpec, ConsistencyMode, Schedule } from '../../api/index.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { BackupStore } from '../../storage/index.ts';
import type { PlannedVolume } from '../../backup/index.ts';
import type { CliIO } from '../io.ts';
import { formatBytes, formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { collectLabelSelectors, labelSelector } from '../flag-values.ts';
import {
  addModeOptions,
  collectNamespaces,
  collectObjectNames,
  existingFile,
  goDuration,
  kubeConfigOf,
  objectName,
  pairsParser,
  resourcesParser,
  type ModeOptions,
} from '../options.ts';
import { progressReporter } from '../progress.ts';
import { clientVersion } from '../version-info.ts';
import { addBackupReadCommands } from './backup-read.ts';
import { verifyCommand } from './backup-verify.ts';
import { LABELS } from '../../api/index.ts';

export function parseBool(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError(`expected true or false, got "${value}"`);
}

const parseLabels = pairsParser({ separator: '=', what: 'a label (key=value)' });

function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}

export interface BackupSpecOptions {
  includeNamespaces?: string[];
  excludeNamespaces?: string[];
  includeResources?: string[];
  excludeResources?: string[];
  includeClusterResources?: boolean;
  selector?: string;
  orSelector?: string[];
  includeSecrets?: boolean;
  ttl?: string;
  labels?: Record<string, string>;
  storageLocation?: string[];
  consistency: ConsistencyMode;
  defaultVolumesToFsBackup?: boolean;
  fsBackupTimeout?: string;
  snapshotVolumes?: boolean;
  snapshotMoveData?: boolean;
  csiSnapshotTimeout?: string;
  /** --volume-policy FILE, and the policy read from it (volumePolicyOfOptions). */
  volumePolicy?: string;
  volumePolicyRead?: BackupSpec['volumePolicy'];
  resourcePoliciesConfigmap?: string;
}

/** Reads --volume-policy FILE into the options, for specFromOptions. */
export async function readVolumePolicyOption(options: BackupSpecOptions): Promise<void> {
  if (options.volumePolicy === undefined) return;
  if (options.resourcePoliciesConfigmap !== undefined)
    throw new Error('--volume-policy and --resource-policies-configmap give the same thing: give one');
  const { volumePolicyOfFile } = await import('../hook-files.ts');
  options.volumePolicyRead = await volumePolicyOfFile(options.volumePolicy);
}

interface CreateOptions extends BackupSpecOptions, ModeOptions {
  fromSchedule?: string;
  nodeAgent: 'none' | 'local';
  kubeletRoot: string;
  clientQps: number;
  clientBurst: number;
  output?: OutputFormat;
  wait: boolean;
  dryRun?: boolean;
  hooks?: string;
  helperImage: string;
}

/** Exit codes of `backup create`: Completed 0, Failed or refused 1, PartiallyFailed 2. */
const exitCodeOf = (phase: string | undefined) =>
  phase === 'Completed' ? 0 : phase === 'PartiallyFailed' ? 2 : 1;

/** The flags that make a backup's spec: `backup create` and `schedule create` share them. */
export function addBackupSpecOptions(command: Command): Command {
  return command
    .option(
      '--include-namespaces <list>',
      'namespaces to back up, names or globs (default: all)',
      collectNamespaces,
    )
    .option('--exclude-namespaces <list>', 'namespaces to leave out, names or globs', collectNamespaces)
    .option(
      '--include-resources <list>',
      'resources to back up: plural, singular, short or resource.group names (default: all)',
      resourcesParser(),
    )
    .option(
      '--exclude-resources <list>',
      'resources to leave out (e.g. secret, events.events.k8s.io)',
      resourcesParser(),
    )
    .option(
      '--include-cluster-resources [bool]',
      'cluster-scoped objects: true = all, false = none (default: those related to the selection)',
      parseBool,
    )
    .option('-l, --selector <selector>', 'only objects with these labels (app=web,tier!=db)', labelSelector)
    .option(
      '--or-selector <selector>',
      'objects matching any of these selectors (repeatable)',
      collectLabelSelectors,
    )
    .option('--include-secrets [bool]', 'false leaves every Secret out', parseBool)
    .option('--ttl <duration>', 'how long the backup is kept', goDuration, '720h0m0s')
    .option('--labels <list>', 'labels of the backup (key=value,...)', parseLabels)
    .option(
      '--storage-location <list>',
      'the locations to write to, all in one pass (default: the default location)',
      collectObjectNames,
    )
    .addOption(
      new Option(
        '--consistency <mode>',
        'snapshot: every object at one storage revision; best-effort: each resource at its latest',
      )
        .choices(['snapshot', 'best-effort'])
        .default('snapshot'),
    )
    .option(
      '--default-volumes-to-fs-backup [bool]',
      "back up the files of every pod volume with user data, except those a pod's " +
        'backup.cairn.dev/backup-volumes-excludes annotation names (default: only the volumes a ' +
        "pod's backup.cairn.dev/backup-volumes annotation names)",
      parseBool,
    )
    .option(
      '--fs-backup-timeout <duration>',
      'how long to wait for the pod volume backups (default 4h)',
      goDuration,
    )
    .option(
      '--snapshot-volumes [bool]',
      'take a CSI snapshot of each backed-up claim whose driver has a labelled VolumeSnapshotClass',
      parseBool,
    )
    .option(
      '--snapshot-move-data [bool]',
      "move each CSI snapshot's data into the location's volume-data repository, then delete the snapshot " +
        '(needs a node agent: the server, or --node-agent local)',
      parseBool,
    )
    .option(
      '--csi-snapshot-timeout <duration>',
      'how long to wait for each CSI snapshot to be ready (default 10m)',
      goDuration,
    )
    .option(
      '--volume-policy <file>',
      "how each volume's data is backed up, rule by rule: a YAML file in Velero's resource-policy format " +
        '(version: v1, volumePolicies: [...]), kept in the spec (docs/volumes.md)',
      existingFile,
    )
    .option(
      '--resource-policies-configmap <name>',
      "Velero's: a ConfigMap in Cairn's namespace whose one key holds the volume policy, read when the backup starts",
      objectName,
    );
}

/** The selection flags backups and restores share, as the fields of their specs. */
export function selectionFromOptions(options: SelectionOptions): SelectionFields {
  return {
    ...(options.includeNamespaces ? { includedNamespaces: options.includeNamespaces } : {}),
    ...(options.excludeNamespaces ? { excludedNamespaces: options.excludeNamespaces } : {}),
    ...(options.includeResources ? { includedResources: options.includeResources } : {}),
    ...(options.excludeResources ? { excludedResources: options.excludeResources } : {}),
    ...(options.includeClusterResources !== undefined
      ? { includeClusterResources: options.includeClusterResources }
      : {}),
    ...(options.selector ? { labelSelector: options.selector } : {}),
    ...(options.orSelector ? { orLabelSelectors: options.orSelector } : {}),
  };
}

export interface SelectionOptions {
  includeNamespaces?: string[] | undefined;
  excludeNamespaces?: string[] | undefined;
  includeResources?: string[] | undefined;
  excludeResources?: string[] | undefined;
  includeClusterResources?: boolean | undefined;
  selector?: string | undefined;
  orSelector?: string[] | undefined;
}

type SelectionFields = Pick<
  BackupSpec,
  | 'includedNamespaces'
  | 'excludedNamespaces'
  | 'includedResources'
  | 'excludedResources'
  | 'includeClusterResources'
  | 'labelSelector'
  | 'orLabelSelectors'
>;

/** The BackupSpec the flags of addBackupSpecOptions describe. */
export function specFromOptions(options: BackupSpecOptions): BackupSpec {
  return {
    ...selectionFromOptions(options),
    ...(options.includeSecrets !== undefined ? { includeSecrets: options.includeSecrets } : {}),
    ...(options.ttl ? { ttl: options.ttl } : {}),
    ...(options.storageLocation?.length === 1 ? { storageLocation: options.storageLocation[0] } : {}),
    ...(options.storageLocation && options.storageLocation.length > 1
      ? { storageLocations: options.storageLocation }
      : {}),
    consistency: options.consistency,
    ...(options.defaultVolumesToFsBackup !== undefined
      ? { defaultVolumesToFsBackup: options.defaultVolumesToFsBackup }
      : {}),
    ...(options.fsBackupTimeout !== undefined ? { fsBackupTimeout: options.fsBackupTimeout } : {}),
    ...(options.snapshotVolumes !== undefined ? { snapshotVolumes: options.snapshotVolumes } : {}),
    ...(options.snapshotMoveData !== undefined ? { snapshotMoveData: options.snapshotMoveData } : {}),
    ...(options.csiSnapshotTimeout !== undefined ? { csiSnapshotTimeout: options.csiSnapshotTimeout } : {}),
    ...(options.volumePolicyRead ? { volumePolicy: options.volumePolicyRead } : {}),
    ...(options.resourcePoliciesConfigmap !== undefined
      ? { resourcePolicy: { kind: 'ConfigMap', name: options.resourcePoliciesConfigmap } }
      : {}),
  };
}

function createCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  return addModeOptions(
    addBackupSpecOptions(
      new Command('create')
        .description(
          'Back up API objects of the cluster into one or more backup locations (through the server when one is installed)',
        )
        .argument(
          '[name]',
          'the backup name (lower-case letters, digits and "-"); optional with --from-schedule',
        ),
    ),
  )
    .option('--from-schedule <schedule>', "server mode: back up now with a schedule's template", objectName)
    .option('--client-qps <n>', 'requests per second to the API server', parsePositiveInt, 100)
    .option('--client-burst <n>', 'requests the client may send at once', parsePositiveInt, 200)
    .addOption(
      new Option(
        '--node-agent <mode>',
        "standalone: who backs up pod volumes' files: none (they are recorded as skipped), or local " +
          '(this process, on the node of a single-node cluster, reading --kubelet-root)',
      )
        .choices(['none', 'local'])
        .default('none'),
    )
    .option('--kubelet-root <dir>', "the kubelet's --root-dir, for --node-agent local", '/var/lib/kubelet')
    .option(
      '--helper-image <image>',
      "the image of the pods that expose a CSI snapshot's data to the node agent (--snapshot-move-data; they only run sleep)",
      `ghcr.io/cairn-dev/cairn:v${clientVersion().replace(/^v/, '')}`,
    )
    .option(
      '--hooks <file>',
      'backup hook sets: a Backup manifest (its spec.hooks), or the hooks object itself (resources: [...])',
      existingFile,
    )
    .option(
      '--dry-run',
      'list the hooks that would run and the volumes that would be backed up in the selected pods, and back up nothing',
    )
    .option('--wait', 'wait for the backup to finish (always so in standalone mode)', true)
    .option('--no-wait', 'server mode: return once the Backup resource is created')
    .addOption(
      new Option(
        '-o, --output <format>',
        'print the finished backup (with --dry-run, the plan) as json or yaml',
      ).argParser(parseOutputFormat),
    )
    .addHelpText(
      'after',
      `
Server mode: when Cairn's server is installed (cairn install; its Deployment in --namespace, default
cairn), the backup is a Backup resource the server runs, followed with the same progress until it ends
(--no-wait returns at once). --standalone runs it here anyway; --server insists on the server.

Examples:
  cairn backup create shop --include-namespaces shop
  cairn backup create --from-schedule nightly          (server mode: run a schedule now)
  cairn backup create nightly --exclude-namespaces 'kube-*' --storage-location default,minio
  cairn backup create web --include-namespaces shop -l app=web --include-secrets=false
  cairn backup create everything --include-cluster-resources=true --ttl 168h -o json
  cairn backup create db --include-namespaces shop --default-volumes-to-fs-backup --node-agent local
  cairn backup create db --include-namespaces shop --hooks db-hooks.yaml --dry-run

Volume files: a pod's annotation backup.cairn.dev/backup-volumes=data,logs (or Velero's
backup.velero.io/backup-volumes) chooses its volumes; --default-volumes-to-fs-backup chooses all but those
backup.cairn.dev/backup-volumes-excludes names. They go, deduplicated and encrypted, into the restic-format
repository restic/<namespace>/ of the first location; see docs/volumes.md.`,
    )
    .action(async (nameArgument: string | undefined, options: CreateOptions, command: Command) => {
      const needsServer = options.server === true || options.fromSchedule !== undefined;
      if (needsServer && options.standalone)
        throw new Error('--standalone cannot be used with --server or --from-schedule');
      if (options.fromSchedule !== undefined && (options.hooks !== undefined || options.dryRun))
        throw new Error(
          `${options.dryRun ? '--dry-run' : '--hooks'} cannot be used with --from-schedule: the schedule's template is the backup's spec`,
        );
      const { backupHooksOfFile } = await import('../hook-files.ts');
      const hooks = options.hooks ? await backupHooksOfFile(options.hooks) : undefined;
      await readVolumePolicyOption(options);
      const { serverClient } = await import('../server-mode.ts');
      const server = await serverClient(io, command, { ...options, server: needsServer });
      if (options.dryRun) {
        if (!nameArgument) throw new Error('a backup name is needed for --dry-run');
        const problems = await dryRun(io, command, nameArgument, options, {
          hooks,
          nodeAgent: server !== undefined || options.nodeAgent === 'local',
        });
        setExitCode(problems > 0 ? 1 : 0);
        return;
      }
      if (server) {
        const backup = await createThroughServer(io, server, nameArgument, options, hooks);
        setExitCode(backup.status?.phase ? exitCodeOf(backup.status.phase) : 0);
        printBackup(io, backup, options.output);
        return;
      }
      if (!nameArgument) throw new Error('a backup name is needed (or --from-schedule)');
      const name = nameArgument;
      const { createBackup } = await import('../../backup/index.ts');
      const { KubeClient } = await import('../../kube/index.ts');
      const { ConfigError, findLocation, keyFile, openForBackup, withDefaultLocation } =
        await import('../config.ts');
      const config = withDefaultLocation(io.env);
      const locations = options.storageLocation?.length
        ? options.storageLocation.map((n) => findLocation(config, n))
        : [findLocation(config, undefined)];
      const readOnly = locations.find((location) => location.spec.accessMode === 'ReadOnly');
      if (readOnly)
        throw new ConfigError(`location "${readOnly.name}" is ReadOnly: backups cannot be written to it`);
      // New keys (and the default location's configuration) are saved once the backup is valid.
      const { stores, save } = await openForBackup(io.env, config, locations);
      const saveNewKeys = () => {
        for (const location of save()) {
          io.stderr.write(
            `Created an encryption key for location "${location}" in ${keyFile(io.env, location)}. ` +
              `Losing it loses the backups: keep a copy (\`cairn location key-export ${location}\` prints it).\n`,
          );
        }
      };
      const client = new KubeClient(await kubeConfigOf(io, command), {
        qps: options.clientQps,
        burst: options.clientBurst,
      });
      // The locations are the stores here; the engine records them in the spec.
      const { storageLocation: _first, storageLocations: _all, ...specOfFlags } = specFromOptions(options);
      const spec: BackupSpec = { ...specOfFlags, ...(hooks ? { hooks } : {}) };
      const progress = progressReporter(io.stderr);
      const volumes =
        options.nodeAgent === 'local'
          ? await localVolumeBackups(io, client, stores, options.kubeletRoot)
          : undefined;
      const backup = await createBackup({
        namespace: options.namespace,
        moverImage: options.helperImage,
        podVolumes: volumes?.runner,
        onVolumeProgress: (p) =>
          progress.update(p.volumesDone, p.volumes, `pod volumes: ${formatBytes(p.bytesDone)} read`, {
            final: false,
          }),
        client,
        name,
        spec,
        labels: options.labels,
        stores,
        now: () => new Date(),
        writer: `cairn ${clientVersion()}`,
        host: hostname(),
        pid: process.pid,
        uid: randomUUID(),
        onValidated: saveNewKeys,
        onStarted: () => io.stderr.write(`Backing up to ${stores.map((s) => s.location).join(', ')}...\n`),
        onProgress: (p) =>
          progress.update(
            p.itemsBackedUp,
            p.totalItems,
            p.waitingFor
              ? `waiting for location ${p.waitingFor.location}: ${p.waitingFor.seconds} s`
              : p.currentResource,
            { final: p.final },
          ),
      }).finally(async () => {
        progress.end();
        await volumes?.close();
      });
      setExitCode(exitCodeOf(backup.status?.phase));
      printBackup(io, backup, options.output);
    });
}

/** The end of `backup create`, either mode: the backup as json or yaml, or a summary. */
function printBackup(io: CliIO, backup: Backup, output: OutputFormat | undefined): void {
  if (output && output !== 'table') {
    io.stdout.write(formatStructured(backup, output));
    return;
  }
  const name = backup.metadata.name;
  const status = backup.status ?? {};
  if (!status.phase || status.phase === 'New' || status.phase === 'InProgress') {
    io.stdout.write(
      `Backup "${name}" is ${status.phase ?? 'New'}. Run \`kubectl get backups.cairn.dev ${name} -n ${backup.metadata.namespace ?? 'cairn'}\` to follow it.\n`,
    );
    return;
  }
  const items = status.progress?.itemsBackedUp ?? 0;
  io.stdout.write(
    `Backup "${name}" ${status.phase}: ${items} items, ${status.errors ?? 0} errors, ${status.warnings ?? 0} warnings` +
      (status.consistency?.revision ? `, at storage revision ${status.consistency.revision}` : '') +
      '.\n',
  );
  for (const location of status.locations ?? []) {
    io.stdout.write(
      `  ${location.name}: ${location.phase}${location.message ? ` (${location.message})` : ''}\n`,
    );
  }
  if (status.failureReason) io.stdout.write(`  reason: ${status.failureReason}\n`);
  for (const problem of status.validationErrors ?? []) io.stdout.write(`  invalid: ${problem}\n`);
  // Server mode: the refused Backup resource stays, as Velero's does, the record of the refusal.
  if (status.phase === 'FailedValidation' && backup.metadata.namespace) {
    const namespace = backup.metadata.namespace;
    io.stdout.write(
      `The Backup resource stays (FailedValidation) as the record of the refusal; nothing was written. ` +
        `Remove it with \`kubectl delete backups.cairn.dev ${name} -n ${namespace}\` before using the name again.\n`,
    );
    return;
  }
  io.stdout.write(`Run \`cairn backup describe ${name}\` for details.\n`);
}

/** Server mode: a Backup resource from the flags (or a schedule's template), followed with --wait. */
async function createThroughServer(
  io: CliIO,
  client: KubeClient,
  nameArgument: string | undefined,
  options: CreateOptions,
  hooks: BackupSpec['hooks'] | undefined,
): Promise<Backup> {
  const { createAndFollow } = await import('../server-mode.ts');
  const { resourcePath, scheduledBackupName } = await import('../../controller/index.ts');
  let spec: BackupSpec = { ...specFromOptions(options), ...(hooks ? { hooks } : {}) };
  let labels = options.labels ?? {};
  if (options.fromSchedule) {
    // Run a schedule now (Velero's --from-schedule): its template, its labels, named like its backups.
    let schedule: Schedule;
    try {
      schedule = await client.json<Schedule>({
        path: resourcePath('Schedule', options.namespace, options.fromSchedule),
      });
    } catch (error) {
      throw new Error(
        `--from-schedule: no schedule "${options.fromSchedule}" in namespace ${options.namespace}`,
        {
          cause: error,
        },
      );
    }
    const { metadata: templateMeta, ...template } = schedule.spec.template;
    spec = template;
    labels = {
      ...(templateMeta?.labels ?? schedule.metadata.labels ?? {}),
      ...labels,
      [LABELS.schedule]: options.fromSchedule,
      [LABELS.veleroSchedule]: options.fromSchedule,
    };
  }
  const name = nameArgument ?? scheduledBackupName(options.fromSchedule ?? 'backup', new Date());
  return createAndFollow<Backup>(client, io, {
    namespace: options.namespace,
    kind: 'Backup',
    plural: 'backups',
    object: { metadata: { name, ...(Object.keys(labels).length > 0 ? { labels } : {}) }, spec },
    wait: options.wait,
  });
}

export function backupCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  const backup = new Command('backup')
    .description('Create and manage backups')
    .addCommand(createCommand(io, setExitCode));
  addBackupReadCommands(backup, io, setExitCode);
  backup.addCommand(verifyCommand(io, setExitCode));
  return backup;
}

/**
 * `--node-agent local`: this process backs up the pods' volumes from the kubelet's directory, on the one
 * node of a single-node cluster. Each location gets the volumes' data in its own repositories; their
 * passwords are files beside the location's key.
 */
async function localVolumeBackups(
  io: CliIO,
  client: KubeClient,
  stores: readonly BackupStore[],
  kubeletRoot: string,
) {
  if (stores.length === 0) throw new Error('no location to write volume data to');
  const { singleNodeName } = await import('../../volumes/index.ts');
  const node = await singleNodeName(client);
  const { fileRepositoryPasswords } = await import('../config.ts');
  const { LocalVolumeBackups, VolumeRepositories } = await import('../../volumes/index.ts');
  const passwords = fileRepositoryPasswords(io.env);
  const repositories = new Map(
    stores.map((backupStore) => [
      backupStore.location,
      new VolumeRepositories({
        location: backupStore.location,
        store: backupStore.store,
        passwords,
        repository: { logger: { warn: (message) => io.stderr.write(`warning: ${message}\n`) } },
      }),
    ]),
  );
  return {
    runner: new LocalVolumeBackups({
      repositories,
      kubeletRoot,
      node,
      now: () => new Date(),
    }),
    close: async () => {
      for (const each of repositories.values()) await each.close();
    },
  };
}

/**
 * `backup create --dry-run`: the selected pods' hooks and volumes, planned against the live cluster and
 * printed; nothing is run or written. Resolves with the number of problems found.
 */
async function dryRun(
  io: CliIO,
  command: Command,
  name: string,
  options: CreateOptions,
  extra: { hooks: BackupSpec['hooks'] | undefined; nodeAgent: boolean },
): Promise<number> {
  const { planBackup } = await import('../../backup/index.ts');
  const { KubeClient } = await import('../../kube/index.ts');
  const { hookLine } = await import('./hooks.ts');
  const client = new KubeClient(await kubeConfigOf(io, command), {
    qps: options.clientQps,
    burst: options.clientBurst,
  });
  const { storageLocation: _first, storageLocations: _all, ...spec } = specFromOptions(options);
  const plan = await planBackup({
    client,
    name,
    spec: { ...spec, ...(extra.hooks ? { hooks: extra.hooks } : {}) },
    locations: options.storageLocation?.length ? options.storageLocation : ['default'],
    nodeAgent: extra.nodeAgent,
    namespace: options.namespace,
  });
  const problems = plan.pods.reduce((n, p) => n + p.problems.length, 0);
  if (options.output && options.output !== 'table') {
    io.stdout.write(formatStructured(plan, options.output));
    return problems;
  }
  const done = (v: { action: string; detail?: string | undefined }) => !v.detail?.startsWith('not ');
  const volumeLine = (v: PlannedVolume) =>
    `  volume ${v.volume}${v.claim !== undefined ? ` (claim ${v.claim})` : ''}: ${v.action}, chosen by ${v.chosenBy}${v.detail ? `: ${v.detail}` : ''}\n`;
  let out = `Dry run: nothing was backed up. Of the ${plan.podsSelected} pods the backup selects, ${plan.pods.length} have hooks or volumes:\n`;
  for (const pod of plan.pods) {
    out += `\n${pod.namespace}/${pod.name} (${pod.phase}):\n`;
    for (const hook of [...pod.pre, ...pod.post]) out += hookLine(hook);
    if (pod.hooksNotRun) out += `  its hooks would not run: ${pod.hooksNotRun}\n`;
    for (const volume of pod.volumes) out += volumeLine(volume);
    for (const problem of pod.problems) out += `  problem: ${problem}\n`;
  }
  if (plan.claims.length > 0) {
    out += '\nClaims no selected pod mounts:\n';
    for (const claim of plan.claims)
      out += `  claim ${claim.namespace}/${claim.claim ?? ''}: ${claim.action}, chosen by ${claim.chosenBy}${claim.detail ? `: ${claim.detail}` : ''}\n`;
  }
  for (const warning of plan.warnings) out += `warning: ${warning}\n`;
  const hooks = plan.pods.reduce((n, p) => n + (p.hooksNotRun ? 0 : p.pre.length + p.post.length), 0);
  const all = [...plan.pods.flatMap((p) => p.volumes), ...plan.claims];
  const volumes = all.filter((v) => v.action === 'fs-backup' && done(v)).length;
  const snapshots = all.filter((v) => v.action === 'snapshot' && done(v)).length;
  out += `\n${hooks} hooks would run, ${volumes} volumes would be backed up${snapshots > 0 ? `, ${snapshots} snapshotted` : ''}; ${problems} problems.\n`;
  io.stdout.write(out);
  return problems;
}
