// `cairn import velero`: Velero's Schedules, BackupStorageLocations and Backups (velero.io/v1) as Cairn's
// resources. They are read from Velero's namespace in the cluster, or from YAML files (multi-document, or
// a List as `kubectl get -o yaml` prints it), converted by src/api's velero-import.ts, and printed
// (--dry-run) or created in Cairn's namespace; an object already there is skipped, never overwritten.
// An object with problems is not created; the command then ends with exit code 1.
import { Command, InvalidArgumentError, Option } from 'commander';
import type {
  Backup,
  CairnKind,
  BackupLocation,
  Schedule,
  SpecProblem,
  VeleroImportKind,
  VeleroObject,
} from '../../api/index.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { CliIO } from '../io.ts';
import { collectValue, existingFile, kubeConfigOf, listItems, namespaceName } from '../options.ts';
import { formatManifests } from '../output.ts';
import { isRecord, readManifests } from '../manifests.ts';

interface ImportFlags {
  filename?: string[];
  veleroNamespace: string;
  namespace: string;
  kinds: VeleroImportKind[];
  dryRun: boolean;
  output: 'yaml' | 'json';
  unpause?: boolean;
}

/** Velero's kinds in the order they are imported: locations before what refers to them. */
const KIND_ORDER: readonly VeleroImportKind[] = ['BackupStorageLocation', 'Schedule', 'Backup'];

const kindNames: Record<string, VeleroImportKind> = {
  backupstoragelocations: 'BackupStorageLocation',
  backupstoragelocation: 'BackupStorageLocation',
  bsl: 'BackupStorageLocation',
  schedules: 'Schedule',
  schedule: 'Schedule',
  backups: 'Backup',
  backup: 'Backup',
};

function parseKinds(value: string): VeleroImportKind[] {
  const kinds = new Set<VeleroImportKind>();
  for (const name of listItems(value).map((n) => n.toLowerCase())) {
    const kind = kindNames[name];
    if (!kind)
      throw new InvalidArgumentError(
        `"${name}" is not one of schedules, backupstoragelocations (bsl), backups`,
      );
    kinds.add(kind);
  }
  return [...kinds];
}

/** What an input object is, for messages: `Schedule velero/nightly`. */
function describe(object: Record<string, unknown>): string {
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '<no name>';
  const namespace = typeof metadata.namespace === 'string' ? `${metadata.namespace}/` : '';
  return `${typeof object.kind === 'string' ? object.kind : '<no kind>'} ${namespace}${name}`;
}

/** Velero's objects of the given kinds in its namespace. */
async function readCluster(
  client: KubeClient,
  namespace: string,
  kinds: readonly VeleroImportKind[],
): Promise<unknown[]> {
  const { VELERO_API_VERSION, VELERO_IMPORT_KINDS } = await import('../../api/index.ts');
  const { KubeApiError } = await import('../../kube/index.ts');
  const objects: unknown[] = [];
  for (const kind of kinds) {
    const plural = VELERO_IMPORT_KINDS[kind].plural;
    let list: { items?: unknown[] };
    try {
      list = await client.json<{ items?: unknown[] }>({
        path: `/apis/${VELERO_API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${plural}`,
      });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404)
        throw new Error(
          `the cluster does not serve ${VELERO_API_VERSION} ${plural}: Velero's CRDs are not installed ` +
            `(no CRD ${plural}.velero.io); import from files with -f instead`,
          { cause: error },
        );
      throw error;
    }
    // Items of a list may come without their kind; the list says what they are.
    for (const item of list.items ?? [])
      objects.push(isRecord(item) ? { apiVersion: VELERO_API_VERSION, kind, ...item } : item);
  }
  if (objects.length === 0) {
    try {
      await client.json({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}` });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404)
        throw new Error(`--velero-namespace "${namespace}": the namespace does not exist`, { cause: error });
      // Not allowed to read namespaces: the empty lists are the answer.
      if (!(error instanceof KubeApiError)) throw error;
    }
  }
  return objects;
}

type Converted = Schedule | BackupLocation | Backup;

/** One input object and what became of its conversion. */
type Outcome =
  { label: string; object: Converted; warnings: string[] } | { label: string; problems: SpecProblem[] };

async function convert(
  inputs: unknown[],
  flags: ImportFlags,
): Promise<{ outcomes: Outcome[]; ignored: string[] }> {
  const { VELERO_API_VERSION, VELERO_IMPORT_KINDS, fromVelero } = await import('../../api/index.ts');
  const { parseSchedule, ScheduleSyntaxError } = await import('../../controller/index.ts');
  const ignored: string[] = [];
  const selected: { kind: VeleroImportKind; object: VeleroObject & Record<string, unknown> }[] = [];
  for (const input of inputs) {
    if (!isRecord(input)) {
      ignored.push(`${JSON.stringify(input)}: not an object`);
      continue;
    }
    const kind = input.kind;
    if (input.apiVersion !== VELERO_API_VERSION) {
      ignored.push(`${describe(input)}: not a ${VELERO_API_VERSION} object`);
      continue;
    }
    if (typeof kind !== 'string' || !Object.hasOwn(VELERO_IMPORT_KINDS, kind)) {
      ignored.push(`${describe(input)}: Cairn imports Schedules, BackupStorageLocations and Backups`);
      continue;
    }
    if (flags.kinds.includes(kind as VeleroImportKind))
      selected.push({ kind: kind as VeleroImportKind, object: input });
  }
  selected.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));

  const outcomes: Outcome[] = [];
  for (const { kind, object } of selected) {
    const result = fromVelero(object, { namespace: flags.namespace, unpause: flags.unpause === true });
    const name =
      isRecord(object.metadata) && typeof object.metadata.name === 'string'
        ? object.metadata.name
        : '<no name>';
    const label = `${VELERO_IMPORT_KINDS[kind].cairnKind} ${name}`;
    if ('problems' in result) {
      outcomes.push({ label, problems: result.problems });
      continue;
    }
    // The cron syntax, as the server checks it: a schedule it would refuse is not imported.
    if (result.object.kind === 'Schedule') {
      const schedule = result.object.spec.schedule;
      try {
        parseSchedule(schedule);
      } catch (error) {
        if (!(error instanceof ScheduleSyntaxError)) throw error;
        const message = error.message.replace(/^schedule "[^"]*": /, '');
        outcomes.push({ label, problems: [{ field: 'spec.schedule', value: schedule, message }] });
        continue;
      }
    }
    outcomes.push({ label, object: result.object, warnings: result.warnings });
  }
  return { outcomes, ignored };
}

/**
 * Whether an object of that kind and name is already in `namespace`: asked of the cluster when one can be
 * reached (5 s a question); `false` when it cannot (a dry run of files without a cluster).
 */
async function existingIn(
  clientOf: () => Promise<KubeClient>,
  namespace: string,
): Promise<(kind: CairnKind, name: string) => Promise<boolean>> {
  let client: KubeClient | undefined;
  try {
    client = await clientOf();
  } catch {
    return () => Promise.resolve(false);
  }
  const { resourcePath } = await import('../../controller/index.ts');
  let reachable = true;
  return async (kind: CairnKind, name) => {
    if (!client || !reachable) return false;
    try {
      const response = await client.send({
        path: resourcePath(kind, namespace, name),
        signal: AbortSignal.timeout(5000),
      });
      return response.status === 200;
    } catch {
      reachable = false;
      return false;
    }
  };
}

function printDryRun(io: CliIO, outcomes: Outcome[], flags: ImportFlags): void {
  const objects = outcomes.flatMap((o) => ('object' in o ? [o.object] : []));
  io.stdout.write(formatManifests(objects, flags.output));
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

async function createAll(
  client: KubeClient,
  report: (line: string) => void,
  outcomes: Outcome[],
  namespace: string,
): Promise<{ created: number; skipped: number; warnings: number }> {
  const { createResource, deleteResource, patchStatus } = await import('../../controller/index.ts');
  const { KubeApiError } = await import('../../kube/index.ts');
  const writer = { client, namespace };
  const skippedLocations = new Set<string>();
  let created = 0;
  let skipped = 0;
  let warnings = 0;
  for (const outcome of outcomes) {
    if (!('object' in outcome)) {
      reportProblems(report, outcome);
      continue;
    }
    const { kind, metadata, spec } = outcome.object;
    const status = outcome.object.status as Record<string, unknown> | undefined;
    let made;
    try {
      made = await createResource(writer, kind, { metadata, spec });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404)
        throw new Error(
          `cannot create ${outcome.label} in namespace ${namespace}: ${error.detail} ` +
            '(is Cairn installed? its CRDs come with cairn install; -n names its namespace)',
          { cause: error },
        );
      throw error;
    }
    if (!made) {
      skipped++;
      if (kind === 'BackupLocation') skippedLocations.add(metadata.name);
      report(
        `${outcome.label}: skipped: a ${kind} of that name is already in namespace ${namespace} (not overwritten)`,
      );
      continue;
    }
    if (status && Object.keys(status).length > 0) {
      try {
        await patchStatus(writer, kind, metadata.name, status);
      } catch (error) {
        // A Backup without its status would be a request for a new backup: take it back.
        await deleteResource(writer, kind, metadata.name);
        throw error;
      }
    }
    created++;
    const object = outcome.object;
    const location =
      object.kind === 'Schedule'
        ? object.spec.template.storageLocation
        : object.kind === 'Backup'
          ? object.spec.storageLocation
          : undefined;
    const lines = [...outcome.warnings];
    if (location !== undefined && skippedLocations.has(location))
      lines.push(
        `${kind === 'Schedule' ? 'spec.template' : 'spec'}.storageLocation: the BackupLocation ${location} ` +
          `was already in namespace ${namespace} and was not replaced: check that it is Velero's store`,
      );
    warnings += lines.length;
    report(`${outcome.label}: created`);
    for (const line of lines) report(`  warning: ${line}`);
  }
  return { created, skipped, warnings };
}

function reportProblems(report: (line: string) => void, outcome: { label: string; problems: SpecProblem[] }) {
  report(`${outcome.label}: not imported:`);
  for (const p of outcome.problems) report(`  ${p.field} "${p.value}": ${p.message}`);
}

export function importCommand(io: CliIO): Command {
  const velero = new Command('velero')
    .description(
      "Convert Velero's Schedules, BackupStorageLocations and Backups into Cairn's, from the cluster or files",
    )
    .addOption(
      new Option(
        '-f, --filename <file>',
        "read Velero's objects from a YAML file instead of the cluster (repeatable; multi-document or a List)",
      ).argParser((value: string, previous: string[] | undefined) =>
        collectValue(existingFile(value), previous),
      ),
    )
    .option(
      '--velero-namespace <ns>',
      "Velero's namespace, read when no -f is given",
      namespaceName,
      'velero',
    )
    .option(
      '-n, --namespace <ns>',
      "Cairn's namespace, where the objects are created",
      namespaceName,
      'cairn',
    )
    .addOption(
      new Option('--kinds <kinds>', 'comma-separated: schedules, backupstoragelocations (bsl), backups')
        .argParser(parseKinds)
        .default([...KIND_ORDER], 'all three'),
    )
    .option('--dry-run', 'print the converted objects instead of creating them', false)
    .option(
      '--unpause',
      "keep a schedule running when Velero's runs (default: imported paused, so it does not back up beside Velero's)",
    )
    .addOption(
      new Option('-o, --output <format>', 'with --dry-run: yaml or json')
        .choices(['yaml', 'json'])
        .default('yaml'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn import velero --dry-run                     (what would be imported from namespace velero)
  cairn import velero                               (create them in namespace cairn)
  cairn import velero --kinds schedules,bsl --velero-namespace backup-system -n cairn
  kubectl get schedules.velero.io -n velero -o yaml > schedules.yaml
  cairn import velero -f schedules.yaml -f locations.yaml --dry-run -o json

Label selectors become their text form, provider names Cairn's (aws: s3, gcp: gcs); imported locations are
plaintext, as Velero's backups are. Schedules are imported paused (unpause each once Velero's is paused,
or import with --unpause). Fields Cairn does not have are dropped with a warning naming them.
An object of the same name already in -n is skipped, never overwritten. Copy the credential Secrets the
warnings name into Cairn's namespace. Exit code 1 when an object had problems (it is not created).`,
    )
    .action(async (flags: ImportFlags, command: Command) => {
      let client: KubeClient | undefined;
      const clientOf = async () => {
        if (!client) {
          const { KubeClient } = await import('../../kube/index.ts');
          client = new KubeClient(await kubeConfigOf(io, command));
        }
        return client;
      };
      const files = flags.filename ?? [];
      const source =
        files.length > 0 ? files.join(', ') : `namespace ${flags.veleroNamespace} of the cluster`;
      const inputs =
        files.length > 0
          ? readManifests(files)
          : await readCluster(await clientOf(), flags.veleroNamespace, flags.kinds);
      const { outcomes, ignored } = await convert(inputs, flags);
      // With --dry-run, stdout holds the objects alone: the report goes to stderr.
      const out = flags.dryRun ? io.stderr : io.stdout;
      const report = (line: string) => void out.write(`${line}\n`);
      for (const line of ignored) report(`ignored ${line}`);
      const failed = outcomes.filter((o) => 'problems' in o).length;
      if (outcomes.length === 0) {
        report(`Nothing to import from ${source}.`);
        return;
      }
      if (flags.dryRun) {
        printDryRun(io, outcomes, flags);
        // Where the cluster can be asked, an object already there is said to be skipped, as the real run
        // skips it; without a cluster (files alone), nothing can be known of it.
        const exists = await existingIn(clientOf, flags.namespace);
        let warnings = 0;
        let skipped = 0;
        for (const outcome of outcomes) {
          if (!('object' in outcome)) {
            reportProblems(report, outcome);
            continue;
          }
          if (await exists(outcome.object.kind, outcome.object.metadata.name)) {
            skipped++;
            report(
              `${outcome.label}: would be skipped: a ${outcome.object.kind} of that name is already in namespace ${flags.namespace} (not overwritten)`,
            );
            continue;
          }
          warnings += outcome.warnings.length;
          report(`${outcome.label}: would be created`);
          for (const line of outcome.warnings) report(`  warning: ${line}`);
        }
        report(
          `Dry run, nothing was created: ${plural(outcomes.length - failed - skipped, 'object')} to import into ` +
            `namespace ${flags.namespace}${skipped > 0 ? `, ${skipped} skipped (already there)` : ''}, ` +
            `${plural(warnings, 'warning')}, ${failed} with problems.`,
        );
      } else {
        const counts = await createAll(await clientOf(), report, outcomes, flags.namespace);
        report(
          `Imported from ${source} into namespace ${flags.namespace}: ${counts.created} created, ` +
            `${counts.skipped} skipped (already there), ${plural(counts.warnings, 'warning')}, ` +
            `${failed} not imported (problems).`,
        );
      }
      if (failed > 0)
        throw new Error(
          `${plural(failed, 'object')} had problems and ${failed === 1 ? 'was' : 'were'} not imported`,
        );
    });
  return new Command('import').description('Import resources from another tool (Velero)').addCommand(velero);
}
