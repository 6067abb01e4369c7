// `cairn restore ...`: create (standalone: runs the restore engine here, against the current cluster, from a
// backup in a configured location), and the commands that read the restore records: get, describe, logs,
// delete. Standalone mode records restores under the user's data directory ($XDG_DATA_HOME/cairn), in
// the restores/<name>/ layout a location uses: backup locations may be read-only (a migration reads
// another cluster's bucket), and a restore is an action of this machine on a cluster.
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  CLUSTER_CONFLICT_POLICIES,
  defaultRestoreName,
  fromStoredResults,
  logLineMessage,
  NAMESPACED_CONFLICT_POLICIES,
  type ClusterConflictPolicy,
  type HookResult,
  type NamespacedConflictPolicy,
  type Backup,
  type Restore,
  type RestoreCounts,
  type RestoreSpec,
} from '../../api/index.ts';
import type { ItemOutcome, TransformRule } from '../../restore/index.ts';
import type { ObjectStore, RestoreStore } from '../../storage/index.ts';
import { clientVersion } from '../version-info.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { PodToFill } from '../../volumes/index.ts';
import type { CliIO } from '../io.ts';
import { collectLabelSelectors, labelSelector } from '../flag-values.ts';
import {
  addModeOptions,
  collectNamespaces,
  existingFile,
  httpUrl,
  kubeConfigOf,
  namespaceName,
  objectName,
  pairsParser,
  resourcesParser,
  type ModeOptions,
} from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { progressReporter } from '../progress.ts';
import { formatFields, formatTable } from '../table.ts';
import { parseBool, selectionFromOptions } from './backup.ts';
import {
  confirmDeletion,
  copiesOf,
  isCommitted,
  messageOf,
  notFound,
  openCatalog,
  reportUnavailable,
} from './backup-catalog.ts';
import { goTime, hookLines, resultLines } from './backup-describe.ts';

type SetExitCode = (code: number) => void;

/** Exit codes: Completed 0, Failed or refused 1, PartiallyFailed 2 (as for backups). */
const exitCodeOf = (phase: string | undefined) =>
  phase === 'Completed' ? 0 : phase === 'PartiallyFailed' ? 2 : 1;

function parseMapping(separator: ':' | '=') {
  const what = separator === ':' ? 'a mapping (source:target)' : 'a mapping (old=new)';
  return pairsParser({ separator, what, valueRequired: true });
}

/** --transform-configmap: NAME, or NAMESPACE/NAME. */
function configMapRef(value: string): string {
  const [first = '', second] = value.split('/', 2);
  if (second === undefined) return objectName(first);
  namespaceName(first);
  objectName(second);
  return value;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a whole number ≥ 1, got "${value}"`);
  return n;
}

/** The standalone restore records: $XDG_DATA_HOME/cairn/restores/. */
async function openRecords(io: CliIO): Promise<RestoreStore> {
  const { dataDir } = await import('../config.ts');
  const { FilesystemStore, RestoreStore } = await import('../../storage/index.ts');
  // The directory is made by the first record written (0700, its files 0600: a record names the objects
  // a restore touched), so a refused or read-only command creates nothing.
  return new RestoreStore(new FilesystemStore({ root: dataDir(io.env) }));
}

/** Failed items named under the summary of `restore create`. */
const MAX_FAILED_SHOWN = 10;

/** A reason's first line, without the colon that introduces a diff below it. */
/** How the dry run's table names each planned outcome. */
const PLANNED_ACTION: Readonly<Record<ItemOutcome, string>> = {
  created: 'create',
  updated: 'update',
  recreated: 'recreate',
  unchanged: 'unchanged',
  skipped: 'skip',
  failed: 'FAIL',
  deleted: 'delete',
};

const firstLine = (text: string) => (text.split('\n', 1)[0] ?? '').replace(/:$/, '');

/** The outcome counts: "6 created, 0 updated, 1 unchanged, ..."; recreated items only when there are some. */
const countsLine = (c: RestoreCounts) =>
  `${c.created} created, ${c.updated} updated, ` +
  (c.recreated ? `${c.recreated} recreated, ` : '') +
  `${c.unchanged} unchanged, ${c.skipped} skipped, ${c.failed} failed`;

/** Indents the continuation lines of multi-line messages (a conflict's diff) under their first line. */
function indentContinuations(text: string): string {
  let indent = '';
  return text
    .split('\n')
    .map((line, index) => {
      if (index === 0 || line === '') return line;
      if (/^\s/.test(line)) {
        indent = /^\s*/.exec(line)?.[0] ?? '';
        return line;
      }
      return `${indent}  ${line}`;
    })
    .join('\n');
}

interface CreateOptions extends ModeOptions {
  wait: boolean;
  fromBackup?: string;
  fromSchedule?: string;
  storageLocation?: string;
  hooks?: string;
  includeNamespaces?: string[];
  excludeNamespaces?: string[];
  includeResources?: string[];
  excludeResources?: string[];
  includeClusterResources?: boolean;
  selector?: string;
  orSelector?: string[];
  namespaceMappings?: Record<string, string>;
  storageClassMappings?: Record<string, string>;
  restoreStatus?: string[];
  preserveNodeports?: boolean;
  existingResourcePolicy?: 'none' | 'update';
  conflictPolicy?: NamespacedConflictPolicy;
  clusterConflictPolicy?: ClusterConflictPolicy;
  clusterResourceScope?: string[];
  transform?: string;
  transformConfigmap?: string;
  resourcePriorities?: string[];
  dryRun?: boolean;
  concurrency: number;
  nodeAgent: 'none' | 'local';
  kubeletRoot: string;
  restoreHelperImage: string;
  clientQps: number;
  clientBurst: number;
  output?: OutputFormat;
}

function createCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return addModeOptions(
    new Command('create')
      .description(
        'Restore API objects from a backup into the current cluster (or preview it with --dry-run)',
      )
      .argument('[name]', 'the restore name (default: <backup>-<YYYYMMDDhhmmss>)')
      .addOption(
        new Option('--from-backup <backup>', 'the backup to restore')
          .argParser(namespaceName)
          .conflicts('fromSchedule'),
      )
      .option(
        '--from-schedule <schedule>',
        'restore the newest Completed backup of this schedule',
        objectName,
      )
      .option(
        '--storage-location <location>',
        'the location holding the backup (default: search every location)',
        objectName,
      )
      .option(
        '--include-namespaces <list>',
        'namespaces to restore, names or globs (default: all)',
        collectNamespaces,
      )
      .option('--exclude-namespaces <list>', 'namespaces to leave out', collectNamespaces)
      .option(
        '--include-resources <list>',
        'resources to restore (plural, singular, short or resource.group)',
        resourcesParser(),
      )
      .option('--exclude-resources <list>', 'resources to leave out', resourcesParser())
      .option(
        '--include-cluster-resources [bool]',
        'cluster-scoped objects: true = all, false = none (default: those related to restored objects)',
        parseBool,
      )
      .option(
        '-l, --selector <selector>',
        'only objects whose backed-up labels match (app=web)',
        labelSelector,
      )
      .option(
        '--or-selector <selector>',
        'objects matching any of these selectors (repeatable)',
        collectLabelSelectors,
      )
      .option(
        '--namespace-mappings <list>',
        'restore namespaces under new names: src1:dst1,src2:dst2',
        parseMapping(':'),
      )
      .option('--storage-class-mappings <list>', 'change storage classes: old=new,...', parseMapping('='))
      .option(
        '--restore-status <list>',
        'resources whose backed-up status is restored too',
        resourcesParser(),
      )
      .option('--preserve-nodeports [bool]', 'keep the node ports of Services', parseBool)
      .addOption(
        new Option(
          '--conflict-policy <policy>',
          'namespaced objects that already exist (default: skip-on-conflict)',
        ).choices(NAMESPACED_CONFLICT_POLICIES),
      )
      .addOption(
        new Option(
          '--existing-resource-policy <policy>',
          "Velero's flag: update = --conflict-policy update-on-conflict",
        ).choices(['none', 'update']),
      )
      .addOption(
        new Option(
          '--cluster-conflict-policy <policy>',
          'cluster-scoped objects that already exist (default: use-existing-version)',
        ).choices(CLUSTER_CONFLICT_POLICIES),
      )
      .option(
        '--cluster-resource-scope <list>',
        'only these cluster-scoped kinds (e.g. storageclasses,clusterroles)',
        resourcesParser(),
      )
      .option('--transform <file>', "transformation rules (Velero's resource-modifier format)", existingFile)
      .option(
        '--transform-configmap <namespace/name>',
        'transformation rules held by a ConfigMap',
        configMapRef,
      )
      .option(
        '--resource-priorities <list>',
        'the restore order: resources first, "-", then the last ones',
        resourcesParser({ separator: '-' }),
      )
      .option(
        '--hooks <file>',
        'restore hook sets: a Restore manifest (its spec.hooks), or the hooks object itself (resources: [...])',
        existingFile,
      )
      .option('--dry-run', 'print what the restore would do against the live cluster, and change nothing')
      .option('--concurrency <n>', 'items of one resource applied at once', parsePositive, 16)
      .addOption(
        new Option(
          '--node-agent <mode>',
          "standalone: who restores pod volumes' files: none (they are not restored), or local (this " +
            'process, on the node of a single-node cluster, writing under --kubelet-root)',
        )
          .choices(['none', 'local'])
          .default('none'),
      )
      .option('--kubelet-root <dir>', "the kubelet's --root-dir, for --node-agent local", '/var/lib/kubelet')
      .option(
        '--restore-helper-image <image>',
        "the image of the init container a restored pod waits in until its volumes' files are back (needs /bin/sh)",
        RESTORE_HELPER_IMAGE,
      )
      .option('--wait', 'wait for the restore to finish (always so in standalone mode)', true)
      .option('--no-wait', 'server mode: return once the Restore resource is created')
      // A restore sends a request per object, so its rate limit is higher than a backup's (which lists a
      // page of 500 per request): what paces it is --concurrency, and the API server's priority and
      // fairness protects the server (docs/benchmarks.md: at 100 requests/s a restore cannot pass 100 objects/s).
      .option('--client-qps <n>', 'requests per second to the API server', parsePositive, 1000)
      .option('--client-burst <n>', 'requests the client may send at once', parsePositive, 2000)
      .addOption(
        new Option(
          '-o, --output <format>',
          'print the restore (and with --dry-run, the plan) as json or yaml',
        ).argParser(parseOutputFormat),
      )
      .addHelpText(
        'after',
        `
Server mode: when Cairn's server is installed (its Deployment in --namespace, default cairn), the
restore is a Restore resource the server runs (--standalone runs it here; --server insists). The
Restore records you as its creator (the annotation cairn.dev/creator, checked by the API server), and
the server restores only what you may write yourself; standalone, your own credentials write.

Examples:
  cairn restore create --from-backup nightly-20261124
  cairn restore create --from-backup shop --include-namespaces shop --dry-run
  cairn restore create shop-copy --from-backup shop --namespace-mappings shop:shop-copy
  cairn restore create --from-schedule nightly --conflict-policy update-on-conflict
  cairn --kubeconfig cluster-b.yaml restore create --from-backup shop --storage-class-mappings standard=fast
  cairn restore create --from-backup db --node-agent local      (and the files of its pods' volumes)
  cairn restore create --from-backup db --hooks restore-hooks.yaml --dry-run   (lists the hooks that would run)`,
      )
      .action(async (nameArg: string | undefined, options: CreateOptions, command: Command) => {
        const { createRestore } = await import('../../restore/index.ts');
        const { KubeClient } = await import('../../kube/index.ts');
        const { readFile } = await import('node:fs/promises');
        const source = options.fromBackup ?? options.fromSchedule;
        // (Both at once is refused by commander: the options conflict.)
        if (source === undefined)
          command.error(
            'error: which backup? give --from-backup BACKUP, or --from-schedule SCHEDULE for its newest Completed backup',
          );
        const name = nameArg ?? defaultRestoreName(source, new Date());

        let transformRules: string | undefined;
        let parsedRules: TransformRule[] | undefined;
        if (options.transform) {
          const flag = `--transform ${options.transform}`;
          try {
            transformRules = await readFile(options.transform, 'utf8');
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            const reason =
              code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : messageOf(error);
            throw new Error(`${flag}: ${reason}`, { cause: error });
          }
          // Parsed here (once), so that a problem names the file; createRestore takes the parsed rules.
          const { parseTransformRules } = await import('../../restore/index.ts');
          try {
            parsedRules = parseTransformRules(transformRules, flag);
          } catch (error) {
            throw new Error(messageOf(error), { cause: error });
          }
        }
        let resourceModifier: RestoreSpec['resourceModifier'];
        if (options.transformConfigmap) {
          const [ns, cm] = options.transformConfigmap.includes('/')
            ? options.transformConfigmap.split('/', 2)
            : [undefined, options.transformConfigmap];
          resourceModifier = { kind: 'ConfigMap', name: cm ?? '', ...(ns ? { namespace: ns } : {}) };
        }
        const { restoreHooksOfFile } = await import('../hook-files.ts');
        const hooks = options.hooks ? await restoreHooksOfFile(options.hooks) : undefined;
        const spec: RestoreSpec = {
          ...(options.fromBackup ? { backupName: options.fromBackup } : {}),
          ...(options.fromSchedule ? { scheduleName: options.fromSchedule } : {}),
          ...selectionFromOptions(options),
          ...(options.namespaceMappings ? { namespaceMapping: options.namespaceMappings } : {}),
          ...(options.storageClassMappings ? { storageClassMapping: options.storageClassMappings } : {}),
          ...(options.restoreStatus ? { restoreStatus: { includedResources: options.restoreStatus } } : {}),
          ...(options.preserveNodeports !== undefined
            ? { preserveNodePorts: options.preserveNodeports }
            : {}),
          ...(options.existingResourcePolicy
            ? { existingResourcePolicy: options.existingResourcePolicy }
            : {}),
          ...(options.conflictPolicy ? { namespacedConflictPolicy: options.conflictPolicy } : {}),
          ...(options.clusterConflictPolicy ? { clusterConflictPolicy: options.clusterConflictPolicy } : {}),
          ...(options.clusterResourceScope ? { clusterResourceScope: options.clusterResourceScope } : {}),
          ...(transformRules !== undefined ? { transformRules } : {}),
          ...(resourceModifier ? { resourceModifier } : {}),
          ...(options.resourcePriorities ? { resourcePriorities: options.resourcePriorities } : {}),
          ...(options.dryRun ? { dryRun: true } : {}),
          ...(hooks ? { hooks } : {}),
        };

        // Server mode: a Restore resource the server runs, followed to its end.
        const { serverClient } = await import('../server-mode.ts');
        const server = await serverClient(io, command, options);
        if (server) {
          const { createAndFollow, creatorAnnotations } = await import('../server-mode.ts');
          const restore = await createAndFollow<Restore>(server, io, {
            namespace: options.namespace,
            kind: 'Restore',
            plural: 'restores',
            object: {
              metadata: { name, annotations: await creatorAnnotations(server) },
              spec: {
                ...spec,
                ...(options.storageLocation ? { storageLocation: options.storageLocation } : {}),
              },
            },
            wait: options.wait,
          });
          setExitCode(restore.status?.phase ? exitCodeOf(restore.status.phase) : 0);
          if (options.output && options.output !== 'table') {
            io.stdout.write(formatStructured(restore, options.output));
            return;
          }
          const status = restore.status ?? {};
          io.stdout.write(
            `Restore "${name}" ${status.phase ?? 'New'}` +
              (status.counts ? `: ${countsLine(status.counts)}` : '') +
              '.\n',
          );
          for (const problem of status.validationErrors ?? []) io.stdout.write(`  invalid: ${problem}\n`);
          if (status.failureReason) io.stdout.write(`  reason: ${status.failureReason}\n`);
          return;
        }

        // The location holding the backup: the one named, or the first that has it (for a schedule: the
        // one with its newest Completed backup). createRestore names what it cannot find.
        const catalog = await openCatalog(io, options.storageLocation);
        let store = catalog.stores[0];
        let backup: Backup | undefined;
        if (options.fromBackup && !options.storageLocation) {
          const copies = await copiesOf(catalog, options.fromBackup);
          if (copies.length === 0) {
            reportUnavailable(io, catalog, setExitCode);
            throw notFound([options.fromBackup], catalog);
          }
          const committed = copies.find((c) => isCommitted(c));
          if (committed) ({ store, backup } = { store: committed.store, backup: committed.entry.backup });
        }
        if (options.fromSchedule && !options.storageLocation) {
          const { locateBackup } = await import('../../restore/index.ts');
          const located = await locateBackup(catalog.stores, spec);
          if (located) ({ store, backup } = located);
        }
        if (!store) throw new Error('no backup location could be opened');

        const kubeConfig = await kubeConfigOf(io, command);
        // Named on stderr before anything is applied: a migration must be seen to go to the right cluster.
        const target = `${kubeConfig.getCurrentCluster()?.server ?? 'the cluster'} (context "${kubeConfig.getCurrentContext()}")`;
        const client = new KubeClient(kubeConfig, { qps: options.clientQps, burst: options.clientBurst });
        const progress = progressReporter(io.stderr);
        const run = await createRestore({
          client,
          name,
          spec,
          backups: store,
          backup,
          transformRules: parsedRules,
          records: await openRecords(io),
          now: () => new Date(),
          uid: randomUUID(),
          concurrency: options.concurrency,
          podVolumes:
            options.nodeAgent === 'local'
              ? await localVolumeRestores(io, client, store.store, store.location, options)
              : undefined,
          onStarted: (backup) =>
            io.stderr.write(
              `${options.dryRun ? 'Planning the restore of' : 'Restoring'} backup "${backup.metadata.name}" from location "${store.location}" into ${target}...\n`,
            ),
          onProgress: (p) => progress.update(p.itemsRestored, p.totalItems, p.currentResource),
          onStep: (entry) => {
            progress.end();
            io.stderr.write(`${entry.level === 'info' ? '' : `${entry.level}: `}${entry.message}\n`);
          },
        }).finally(() => progress.end());
        const { restore, plan, podHooks } = run;
        setExitCode(exitCodeOf(restore.status?.phase));
        if (options.output && options.output !== 'table') {
          io.stdout.write(
            formatStructured(options.dryRun ? { restore, plan, hooks: podHooks } : restore, options.output),
          );
          return;
        }
        const status = restore.status ?? {};
        const counts = status.counts ?? { created: 0, updated: 0, unchanged: 0, skipped: 0, failed: 0 };
        if (options.dryRun) {
          io.stdout.write(`Dry run: nothing was changed. The restore would do this:\n\n`);
          const rows = plan.map((p) => [
            PLANNED_ACTION[p.outcome],
            p.groupResource,
            p.namespace ?? '',
            p.name,
            p.reason ?? '',
          ]);
          io.stdout.write(formatTable(['ACTION', 'RESOURCE', 'NAMESPACE', 'NAME', 'REASON'], rows));
          for (const p of plan.filter((e) => e.diff && e.diff.length > 0)) {
            const { formatDiff } = await import('../../restore/index.ts');
            io.stdout.write(
              `\n${p.groupResource} ${p.namespace ? `${p.namespace}/` : ''}${p.name} differs from the backup:\n`,
            );
            io.stdout.write(
              formatDiff(p.diff ?? [])
                .split('\n')
                .map((l) => `  ${l}`)
                .join('\n') + '\n',
            );
          }
          if (podHooks.length > 0) {
            const { describeRestoreHooks } = await import('../../restore/index.ts');
            io.stdout.write("\nRestore hooks that would run (after the objects and the volumes' files):\n");
            for (const pod of podHooks)
              io.stdout.write(`  ${pod.namespace}/${pod.name}: ${describeRestoreHooks(pod.hooks)}\n`);
          }
          io.stdout.write(
            `\nWould create ${counts.created}, update ${counts.updated}, ` +
              (counts.recreated ? `recreate ${counts.recreated}, ` : '') +
              `leave ${counts.unchanged} unchanged, skip ${counts.skipped}, fail ${counts.failed}.\n`,
          );
          return;
        }
        io.stdout.write(
          `Restore "${name}" ${status.phase}: ${countsLine(counts)}; ` +
            `${status.errors ?? 0} errors, ${status.warnings ?? 0} warnings.\n`,
        );
        if (status.failureReason) io.stdout.write(`  reason: ${status.failureReason}\n`);
        // A partial failure names its items here, not only in describe (the first ones: describe has all).
        const failed = plan.filter((p) => p.outcome === 'failed');
        for (const p of failed.slice(0, MAX_FAILED_SHOWN))
          io.stdout.write(
            `  failed: ${p.groupResource} ${p.namespace ? `${p.namespace}/` : ''}${p.name}: ${firstLine(p.reason ?? '')}\n`,
          );
        if (failed.length > MAX_FAILED_SHOWN)
          io.stdout.write(`  ... and ${failed.length - MAX_FAILED_SHOWN} more failed items\n`);
        io.stdout.write(`Run \`cairn restore describe ${name}\` for details.\n`);
      }),
  );
}

const RESTORE_COLUMNS = [
  'NAME',
  'BACKUP',
  'STATUS',
  'STARTED',
  'COMPLETED',
  'ERRORS',
  'WARNINGS',
  'CREATED',
  'SELECTOR',
];

function rowOf(restore: Restore): string[] {
  const status = restore.status ?? {};
  return [
    restore.metadata.name,
    restore.spec.backupName ?? '',
    status.phase ?? 'New',
    goTime(status.startTimestamp),
    goTime(status.completionTimestamp),
    String(status.errors ?? 0),
    String(status.warnings ?? 0),
    goTime(restore.metadata.creationTimestamp),
    restore.spec.labelSelector ?? (restore.spec.orLabelSelectors ?? []).join(' or ') ?? '<none>',
  ].map((v) => (v === '' ? '<none>' : v));
}

/** Where restores are listed from: this machine's records, or the server's Restore resources. */
async function restoresOf(
  io: CliIO,
  command: Command,
  options: ModeOptions,
): Promise<{
  server: boolean;
  /** Server mode: the client the server's resources are read with. */
  client?: KubeClient | undefined;
  list: () => Promise<Restore[]>;
  get: (name: string) => Promise<Restore | undefined>;
}> {
  const { serverClient } = await import('../server-mode.ts');
  const client = await serverClient(io, command, options);
  if (client) {
    const { getResource, resourcePath } = await import('../../controller/index.ts');
    const writer = { client, namespace: options.namespace };
    return {
      server: true,
      client,
      list: async () =>
        (await client.json<{ items: Restore[] }>({ path: resourcePath('Restore', options.namespace) })).items,
      get: (name) => getResource<Restore>(writer, 'Restore', name),
    };
  }
  const records = await openRecords(io);
  return { server: false, list: () => records.list(), get: (name) => records.get(name) };
}

function getCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('get')
      .description(
        "List restores: those run from this machine, or the server's Restore resources when one is installed",
      )
      .argument('[names...]', 'only these restores'),
  )
    .addOption(new Option('-o, --output <format>', 'json or yaml').argParser(parseOutputFormat))
    .addHelpText('after', '\nExamples:\n  cairn restore get\n  cairn restore get shop-20261125101500 -o yaml')
    .action(async (names: string[], options: ModeOptions & { output?: OutputFormat }, command: Command) => {
      const source = await restoresOf(io, command, options);
      let restores = await source.list();
      if (names.length > 0) {
        const missing = names.filter((n) => !restores.some((r) => r.metadata.name === n));
        if (missing.length > 0)
          throw new Error(`no restore named ${missing.map((m) => `"${m}"`).join(', ')}`);
        restores = restores.filter((r) => names.includes(r.metadata.name));
      }
      if (options.output && options.output !== 'table') {
        const value = names.length === 1 ? restores[0] : { apiVersion: 'v1', kind: 'List', items: restores };
        io.stdout.write(formatStructured(value, options.output));
        return;
      }
      if (restores.length === 0) {
        io.stdout.write('No restores.\n');
        return;
      }
      io.stdout.write(formatTable(RESTORE_COLUMNS, restores.map(rowOf)));
    });
}

const list = (values: string[] | undefined, fallback = '*') =>
  values && values.length > 0 ? values.join(', ') : fallback;

/** The rules a restore ran with: those given with it (by name) and the ConfigMap it read. */
async function transformationsOf(spec: RestoreSpec): Promise<string> {
  const parts: string[] = [];
  if (spec.transformRules !== undefined) {
    const { parseTransformRules } = await import('../../restore/index.ts');
    try {
      const names = parseTransformRules(spec.transformRules, 'transformRules').map((r) => r.name);
      parts.push(`${names.length} given with the restore (${names.join(', ')})`);
    } catch {
      parts.push('given with the restore (unreadable now)');
    }
  }
  const ref = spec.resourceModifier;
  if (ref) parts.push(`ConfigMap ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`);
  return parts.length > 0 ? parts.join('; ') : '<none>';
}

interface ServerUrlOptions {
  serverUrl?: string;
  serverCaFile?: string;
}

const serverUrlOption = () =>
  new Option(
    '--server-url <url>',
    "server mode: reach the server's file URLs here (e.g. https://127.0.0.1:8085 after kubectl port-forward -n cairn deploy/cairn 8085)",
  ).argParser(httpUrl);

const serverCaFileOption = () =>
  new Option(
    '--server-ca-file <file>',
    "server mode: trust this CA (PEM) for the server's certificate (default: the one in ConfigMap cairn-ca)",
  ).argParser(existingFile);

/**
 * A restore's record files: this machine's records, or (given the server's client) the ones the server
 * keeps in the backup's location, through DownloadRequests. The log comes as text, the others parsed.
 */
async function recordReader(
  io: CliIO,
  command: Command,
  options: ServerUrlOptions & { namespace: string; name: string; client?: KubeClient | undefined },
): Promise<(file: 'logs' | 'results' | 'resourceList' | 'hooks') => Promise<unknown>> {
  const { name, client } = options;
  if (!client) {
    const records = await openRecords(io);
    return async (file) => {
      const text = (await records.readFile(name, file)).toString('utf8');
      return file === 'logs' ? text : (JSON.parse(text) as unknown);
    };
  }
  const { ServerFiles } = await import('../server-files.ts');
  const { buffer } = await import('node:stream/consumers');
  const files = new ServerFiles({
    client,
    namespace: options.namespace,
    serverUrl: options.serverUrl,
    serverCaFile: options.serverCaFile,
    kubeConfig: () => kubeConfigOf(io, command),
  });
  const KINDS = {
    logs: 'RestoreLog',
    results: 'RestoreResults',
    resourceList: 'RestoreResourceList',
    hooks: 'RestoreHookResults',
  } as const;
  return async (file) => {
    const text = (await buffer(await files.open(KINDS[file], name))).toString('utf8');
    return file === 'logs' ? text : (JSON.parse(text) as unknown);
  };
}

function describeCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('describe')
      .description('Show a restore: backup, filters, mappings, policies, outcome, warnings and errors')
      .argument('<name>', 'the restore'),
  )
    .option('--details', 'also list every item and its outcome')
    .addOption(new Option('-o, --output <format>', 'json or yaml').argParser(parseOutputFormat))
    .addOption(serverUrlOption())
    .addOption(serverCaFileOption())
    .addHelpText(
      'after',
      `
In server mode the warnings and errors, and with --details every item, come from the restore's files,
which the server keeps in the backup's location: read through the server (a DownloadRequest each,
answered with a short-lived URL of its own). A restore from a ReadOnly location keeps no files: its
status has the counts.

Examples:
  cairn restore describe shop-20261125101500
  cairn restore describe shop-copy --details
  cairn restore describe shop-copy --details --server-url https://127.0.0.1:8085`,
    )
    .action(
      async (
        name: string,
        options: ModeOptions & ServerUrlOptions & { details?: boolean; output?: OutputFormat },
        command: Command,
      ) => {
        const source = await restoresOf(io, command, options);
        const restore = await source.get(name);
        if (!restore)
          throw new Error(
            `no restore named "${name}"${source.server ? ` in namespace ${options.namespace}` : ''}`,
          );
        if (options.output && options.output !== 'table') {
          io.stdout.write(formatStructured(restore, options.output));
          return;
        }
        const { spec } = restore;
        const status = restore.status ?? {};
        const counts = status.counts;
        const mapping = (m: Record<string, string> | undefined, sep: string) =>
          m && Object.keys(m).length > 0
            ? Object.entries(m)
                .map(([a, b]) => `${a}${sep}${b}`)
                .join(', ')
            : '<none>';
        io.stdout.write(
          formatFields(
            [
              ['Name', restore.metadata.name],
              ['Phase', status.phase ?? 'New'],
              ...(status.failureReason ? ([['Failure reason', status.failureReason]] as const) : []),
              [
                'Backup',
                `${spec.backupName ?? ''}${spec.scheduleName ? ` (newest of schedule ${spec.scheduleName})` : ''}`,
              ],
              ['Storage location', spec.storageLocation ?? '<none>'],
              [
                'Namespaces',
                `included ${list(spec.includedNamespaces)}; excluded ${list(spec.excludedNamespaces, '<none>')}`,
              ],
              [
                'Resources',
                `included ${list(spec.includedResources)}; excluded ${list(spec.excludedResources, '<none>')}`,
              ],
              [
                'Cluster-scoped',
                spec.includeClusterResources === undefined
                  ? 'auto (those related to restored objects)'
                  : String(spec.includeClusterResources),
              ],
              [
                'Label selector',
                spec.labelSelector ?? (spec.orLabelSelectors ?? []).join(' or ') ?? '<none>',
              ],
              ['Namespace mappings', mapping(spec.namespaceMapping, ':')],
              ['Storage class mappings', mapping(spec.storageClassMapping, '=')],
              ['Transformation rules', await transformationsOf(spec)],
              [
                'Conflict policy',
                `${spec.namespacedConflictPolicy ?? 'skip-on-conflict'} (namespaced), ${spec.clusterConflictPolicy ?? 'use-existing-version'} (cluster-scoped)`,
              ],
              ['Restore status of', list(spec.restoreStatus?.includedResources, '<none>')],
              ['Preserve node ports', String(spec.preserveNodePorts === true)],
              ['Started', goTime(status.startTimestamp)],
              ['Completed', goTime(status.completionTimestamp)],
              [
                // Every item the restore went through, whatever its outcome (the next line breaks it down).
                'Items processed',
                `${status.progress?.itemsRestored ?? 0} of ${status.progress?.totalItems ?? 0}`,
              ],
              ['Outcome', counts ? countsLine(counts) : '<none>'],
              ...(status.podVolumeRestores
                ? ([
                    [
                      'Pod volumes',
                      `${status.podVolumeRestores.completed} restored, ${status.podVolumeRestores.failed} failed, ${status.podVolumeRestores.notRestored} not restored`,
                    ],
                  ] as const)
                : []),
              ...(status.hookStatus
                ? ([
                    [
                      'Hooks',
                      `${status.hookStatus.hooksAttempted} run, ${status.hookStatus.hooksFailed} failed${options.details ? '' : ' (--details lists each)'}`,
                    ],
                  ] as const)
                : []),
            ].map(([k, v]) => [k, v === '' ? '<none>' : v] as const),
          ),
        );
        if (source.server && !options.details) {
          // The messages are in the record files, in the location; the counts are in the status.
          io.stdout.write(`\nWarnings:  ${status.warnings ?? 0}\n\nErrors:    ${status.errors ?? 0}\n`);
          for (const problem of status.validationErrors ?? []) io.stdout.write(`  invalid: ${problem}\n`);
          return;
        }
        const readRecord = await recordReader(io, command, { ...options, name, client: source.client });
        const results = fromStoredResults(await readRecord('results'));
        io.stdout.write(
          `\n${indentContinuations(resultLines('Warnings', status.warnings ?? 0, results.warnings))}`,
        );
        io.stdout.write(
          `\n${indentContinuations(resultLines('Errors', status.errors ?? 0, results.errors))}`,
        );
        if (source.server)
          for (const problem of status.validationErrors ?? []) io.stdout.write(`  invalid: ${problem}\n`);
        if (options.details) {
          const resourceList = (await readRecord('resourceList')) as Record<string, string[]>;
          io.stdout.write('\nItems:\n');
          for (const [kind, items] of Object.entries(resourceList)) {
            io.stdout.write(`  ${kind}:\n`);
            for (const item of items) io.stdout.write(`    - ${item}\n`);
          }
          if (status.hookStatus) {
            const hooks = (await readRecord('hooks')) as HookResult[];
            io.stdout.write('\nHooks:\n' + hookLines(hooks));
          }
        }
      },
    );
}

function logsCommand(io: CliIO): Command {
  return addModeOptions(
    new Command('logs').description("Print a restore's log").argument('<name>', 'the restore'),
  )
    .addOption(serverUrlOption())
    .addOption(serverCaFileOption())
    .addHelpText(
      'after',
      `
In server mode the log is the one the server keeps in the backup's location, read through the server (a
DownloadRequest, answered with a short-lived URL of its own); any kubeconfig that may create
DownloadRequests in its namespace works, client certificates included.

Examples:
  cairn restore logs shop-20261125101500
  cairn restore logs shop-copy --server-url https://127.0.0.1:8085     (server mode, through a port-forward)`,
    )
    .action(async (name: string, options: ModeOptions & ServerUrlOptions, command: Command) => {
      const { serverClient } = await import('../server-mode.ts');
      const client = await serverClient(io, command, options);
      let text: string;
      if (client) {
        text = (await (await recordReader(io, command, { ...options, name, client }))('logs')) as string;
      } else {
        const records = await openRecords(io);
        if (!(await records.exists(name))) throw new Error(`no restore named "${name}"`);
        text = (await records.readFile(name, 'logs')).toString('utf8');
      }
      const lines = text.split('\n').filter(Boolean);
      if (lines.length === 0)
        io.stderr.write(
          `The log of restore "${name}" is empty: it logged no warnings, errors or deletions (\`cairn restore describe ${name} --details\` lists every item).\n`,
        );
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { time: string; level: string; namespace?: string };
          const message = logLineMessage(entry);
          io.stdout.write(
            `${entry.time} ${entry.level.padEnd(7)} ${entry.namespace ? `[${entry.namespace}] ` : ''}${message.replaceAll('\n', '\n    ')}\n`,
          );
        } catch {
          io.stdout.write(`${line}\n`);
        }
      }
    });
}

function deleteCommand(io: CliIO): Command {
  return new Command('delete')
    .description('Delete restore records (the restored objects stay in the cluster)')
    .argument('<names...>', 'the restores')
    .option('--confirm', 'do not ask for confirmation')
    .addHelpText('after', '\nExamples:\n  cairn restore delete shop-20261125101500 --confirm')
    .action(async (names: string[], options: { confirm?: boolean }) => {
      const records = await openRecords(io);
      for (const name of names)
        if (!(await records.exists(name))) throw new Error(`no restore named "${name}"`);
      const confirmed = await confirmDeletion(io, {
        confirmed: options.confirm === true,
        question: `Delete the record${names.length > 1 ? 's' : ''} of restore ${names.join(', ')}?`,
        what: `restore ${names.join(', ')}`,
      });
      if (!confirmed) {
        io.stdout.write('Nothing deleted.\n');
        return;
      }
      for (const name of names) {
        await records.delete(name);
        io.stdout.write(`Deleted the record of restore "${name}" (the restored objects are untouched).\n`);
      }
    });
}

export function restoreCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('restore')
    .description('Restore backups into a cluster, preview restores, and manage restore records')
    .addCommand(createCommand(io, setExitCode))
    .addCommand(getCommand(io))
    .addCommand(describeCommand(io))
    .addCommand(logsCommand(io))
    .addCommand(deleteCommand(io));
}

/** The restore-wait init container's default image: Cairn's own (it has /bin/sh). */
const RESTORE_HELPER_IMAGE = `ghcr.io/cairn-dev/cairn:v${clientVersion().replace(/^v/, '')}`;

/**
 * `--node-agent local`: this process fills the restored pods' volumes on the one node of a single-node
 * cluster, from the location's repositories (their passwords are files beside the location's key).
 */
async function localVolumeRestores(
  io: CliIO,
  client: KubeClient,
  store: ObjectStore,
  location: string,
  options: CreateOptions,
) {
  const { singleNodeName } = await import('../../volumes/index.ts');
  const node = await singleNodeName(client);
  const { fileRepositoryPasswords } = await import('../config.ts');
  const { fillPodVolumes, VolumeRepositories } = await import('../../volumes/index.ts');
  const { setTimeout: sleep } = await import('node:timers/promises');
  return {
    image: options.restoreHelperImage,
    fill: async (pods: PodToFill[], restore: { name: string; uid: string }) => {
      const repositories = new VolumeRepositories({
        location,
        store,
        passwords: fileRepositoryPasswords(io.env),
        repository: { logger: { warn: (message) => io.stderr.write(`warning: ${message}\n`) } },
      });
      try {
        return await fillPodVolumes({
          client,
          pods,
          restoreName: restore.name,
          restoreUid: restore.uid,
          backupName: options.fromBackup ?? '',
          repositories,
          kubeletRoot: options.kubeletRoot,
          node,
          now: () => new Date(),
          sleep: (ms, signal) => sleep(ms, undefined, { signal }),
          podTimeoutMs: 10 * 60_000,
          log: (message) => io.stderr.write(`${message}\n`),
        });
      } finally {
        await repositories.close();
      }
    },
  };
}
