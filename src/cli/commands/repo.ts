// `cairn repo ...`: the volume-data repositories of a location (restic/<namespace>/, one per namespace
// whose pod volumes were backed up): what they hold, checking them, forgetting snapshots by a policy,
// pruning the data no snapshot uses, and their passwords. The operations are the repo and volumes
// layers'; this file parses flags and prints.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CliIO } from '../io.ts';
import { addModeOptions, collectList, nonEmpty, objectName, type ModeOptions } from '../options.ts';
import { formatBytes, formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatFields, formatTable } from '../table.ts';
import type { CheckProblem, ForgetPolicy, MaintenanceProgress } from '../../repo/index.ts';
import {
  openRepositories,
  serverLocation,
  serverLocations,
  serverScope,
  shortId,
  MODE_NOTE,
  type OpenedRepositories,
} from './volume-data.ts';

type SetExitCode = (code: number) => void;

interface LocationOption {
  storageLocation?: string;
}

const locationOption = () =>
  new Option(
    '--storage-location <name>',
    'the location whose repositories to use (default: the default location)',
  ).argParser(objectName);

const outputOption = (what: string, table = false) => {
  const option = new Option('-o, --output <format>', what).argParser(parseOutputFormat);
  return table ? option.default('table') : option;
};

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a whole number above 0, got "${value}"`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** --max-unused: `5%` of the used data, a size (`100M`, `2G`, bytes), or `unlimited`. */
export function parseMaxUnused(value: string): { fraction: number } | { bytes: number } {
  if (value === 'unlimited') return { bytes: Number.POSITIVE_INFINITY };
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (percent) {
    const fraction = Number(percent[1]) / 100;
    if (fraction >= 1) throw new InvalidArgumentError(`a percentage below 100% is needed, got "${value}"`);
    return { fraction };
  }
  const size = /^(\d+(?:\.\d+)?)([bkmgt]?)$/i.exec(value);
  if (!size)
    throw new InvalidArgumentError(
      `expected a percentage (5%), a size (100M, 2G) or unlimited, got "${value}"`,
    );
  return { bytes: Math.floor(Number(size[1]) * (SIZE_UNITS[(size[2] ?? '').toLowerCase()] ?? 1)) };
}

/** Opens the location's repositories, refusing a ReadOnly location for a command that writes. */
async function openFor(
  io: CliIO,
  options: LocationOption & ModeOptions,
  writes: string | undefined,
  command: Command,
): Promise<OpenedRepositories> {
  const server = await serverScope(io, command, options);
  const opened = await openRepositories(io, options.storageLocation, server);
  if (writes && opened.readOnly) {
    await opened.repositories.close();
    throw new Error(`location "${opened.location}" is ReadOnly: ${writes} writes to its repositories`);
  }
  return opened;
}

/** Where a repository is, for messages: `restic/shop/ of location "default"`. */
const repositoryName = (opened: OpenedRepositories, namespace: string) =>
  `restic/${namespace}/ of location "${opened.location}"`;

/** Progress of a maintenance operation on stderr: its phase, and a count. */
function maintenanceProgress(
  io: CliIO,
  reporter: { update(done: number, total: number, label?: string, options?: { final?: boolean }): void },
) {
  return (p: MaintenanceProgress) =>
    reporter.update(p.done, p.total ?? p.done, p.phase, { final: p.total !== undefined });
}

// ---------------------------------------------------------------------------------------------------
// get

function getCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('get')
    .description(
      "List a location's volume-data repositories: what each holds, and where its password is kept",
    )
    .argument('[namespace...]', 'only these namespaces')
    .addOption(locationOption())
    .addOption(outputOption('table, json or yaml', true))
    .addHelpText(
      'after',
      `
Columns: NAMESPACE, ID (the repository's, shortened), SNAPSHOTS, PACKS and SIZE (of its pack files),
STATUS (Ready; PasswordMissing: no password file; WrongPassword: the file's password opens no key;
Unreadable) and PASSWORD: the file that keeps its password (never the password). A NAMESPACE without a
repository is an error (exit 1) after the others are listed.

${MODE_NOTE}

Examples:
  cairn repo get
  cairn repo get shop -o json
  cairn repo get --storage-location minio`,
    )
    .action(
      async (
        names: string[],
        options: LocationOption & ModeOptions & { output: OutputFormat },
        command: Command,
      ) => {
        const { RepositoryNotFoundError } = await import('../../volumes/index.ts');
        const { repositoryPasswordFile } = await import('../config.ts');
        const opened = await openFor(io, options, undefined, command);
        try {
          const namespaces = names.length > 0 ? [...new Set(names)] : await opened.repositories.namespaces();
          const summaries = [];
          const missing: string[] = [];
          for (const namespace of namespaces) {
            try {
              summaries.push(await opened.repositories.summary(namespace));
            } catch (error) {
              if (!(error instanceof RepositoryNotFoundError)) throw error;
              missing.push(namespace);
            }
          }
          // Standalone, the file that keeps the password; in server mode, the Secret.
          const rows = summaries.map(({ password: where, ...summary }) =>
            opened.server
              ? { ...summary, passwordSecret: where }
              : {
                  ...summary,
                  passwordFile: repositoryPasswordFile(io.env, opened.location, summary.namespace),
                },
          );
          if (options.output !== 'table') {
            io.stdout.write(
              formatStructured({ location: opened.location, repositories: rows }, options.output),
            );
          } else if (rows.length > 0) {
            io.stdout.write(
              formatTable(
                ['NAMESPACE', 'ID', 'SNAPSHOTS', 'PACKS', 'SIZE', 'STATUS', 'PASSWORD'],
                rows.map((r) => [
                  r.namespace,
                  r.id ? shortId(r.id) : '<unknown>',
                  String(r.snapshots),
                  String(r.packs),
                  formatBytes(r.packBytes),
                  r.state,
                  'passwordSecret' in r ? r.passwordSecret : r.passwordFile,
                ]),
              ),
            );
          } else if (names.length === 0) {
            io.stderr.write(`No volume-data repositories in location "${opened.location}".\n`);
          }
          if (options.output === 'table')
            for (const r of rows)
              if (r.message)
                io.stderr.write(`warning: ${repositoryName(opened, r.namespace)}: ${r.message}\n`);
          if (missing.length > 0) {
            setExitCode(1);
            io.stderr.write(
              `error: location "${opened.location}" has no volume-data repository for ` +
                `${missing.map((n) => `namespace ${n}`).join(', ')}\n`,
            );
          }
        } finally {
          await opened.repositories.close();
        }
      },
    );
}

// ---------------------------------------------------------------------------------------------------
// check

/** The repository file a problem is about, from the location's root; undefined for a blob or tree. */
function fileOf(
  problem: CheckProblem,
  namespace: string,
  handlePath: (h: { type: 'data' | 'index' | 'snapshots'; name: string }) => string,
): string | undefined {
  const handle = problem.pack
    ? { type: 'data' as const, name: problem.pack }
    : problem.indexFile
      ? { type: 'index' as const, name: problem.indexFile }
      : problem.snapshot && problem.code === 'snapshot-unreadable'
        ? { type: 'snapshots' as const, name: problem.snapshot }
        : undefined;
  return handle && `restic/${namespace}/${handlePath(handle)}`;
}

function checkCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('check')
    .description("Check that a namespace's volume-data repository is whole (restic check)")
    .argument('<namespace>', 'the namespace whose repository to check')
    .option('--read-data', 'also read every pack and verify every blob (reads all the data)')
    .addOption(locationOption())
    .addOption(outputOption('print the problems and counts as json or yaml'))
    .addHelpText(
      'after',
      `
Checks the structure: every index file loads, every pack it lists exists with the right size, every
snapshot and every tree below it loads, and every blob a file needs is indexed. --read-data also reads
every pack and checks every blob's hash. Each problem is printed with the file it is about. Warnings
(packs no index lists, left by an interrupted backup or prune) do not fail the check; prune removes them.
Backups may run meanwhile; prune and forget wait.

Exit codes: 0 no errors (warnings maybe); 1 errors, or the check could not run.

${MODE_NOTE}

Examples:
  cairn repo check shop
  cairn repo check shop --read-data`,
    )
    .action(
      async (
        namespace: string,
        options: LocationOption & ModeOptions & { readData?: boolean; output?: OutputFormat },
        command: Command,
      ) => {
        const { checkRepository, handlePath } = await import('../../repo/index.ts');
        const { progressReporter } = await import('../progress.ts');
        const opened = await openFor(io, options, undefined, command);
        const progress = progressReporter(io.stderr, { unit: '' });
        try {
          const repo = await opened.repositories.repository(namespace, { create: false });
          io.stderr.write(
            `Checking ${repositoryName(opened, namespace)}${options.readData ? ', reading all data' : ''}...\n`,
          );
          const result = await checkRepository(repo, {
            readData: options.readData === true,
            lock: !opened.readOnly,
            onProgress: maintenanceProgress(io, progress),
          }).finally(() => progress.end());
          if (result.errors.length > 0) setExitCode(1);
          const withFile = (p: CheckProblem) => ({ ...p, file: fileOf(p, namespace, handlePath) });
          if (options.output && options.output !== 'table') {
            io.stdout.write(
              formatStructured(
                {
                  location: opened.location,
                  namespace,
                  errors: result.errors.map(withFile),
                  warnings: result.warnings.map(withFile),
                  stats: result.stats,
                },
                options.output,
              ),
            );
            return;
          }
          for (const [level, problems] of [
            ['error', result.errors],
            ['warning', result.warnings],
          ] as const)
            for (const problem of problems) {
              const file = fileOf(problem, namespace, handlePath);
              io.stdout.write(`${level}: ${problem.message}${file ? ` (${file})` : ''}\n`);
            }
          const s = result.stats;
          io.stdout.write(
            `${repositoryName(opened, namespace)}: ${s.snapshots} snapshots, ${s.trees} trees, ${s.dataBlobs} data blobs ` +
              `in ${s.packs} packs, ${s.indexFiles} index files` +
              (options.readData ? `; read ${s.packsRead} packs (${formatBytes(s.bytesRead)})` : '') +
              (s.unusedBlobs > 0 ? `; ${s.unusedBlobs} blobs no snapshot uses (prune removes them)` : '') +
              '.\n' +
              (result.errors.length === 0
                ? `No errors${result.warnings.length > 0 ? `, ${result.warnings.length} warnings` : ''}.\n`
                : `${result.errors.length} errors, ${result.warnings.length} warnings: the repository is damaged.\n`),
          );
        } finally {
          await opened.repositories.close();
        }
      },
    );
}

// ---------------------------------------------------------------------------------------------------
// forget

interface ForgetOptions extends LocationOption {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
  keepTag?: string[][];
  dryRun?: boolean;
  output?: OutputFormat;
}

function policyOf(options: ForgetOptions): ForgetPolicy {
  return {
    ...(options.keepLast !== undefined ? { last: options.keepLast } : {}),
    ...(options.keepHourly !== undefined ? { hourly: options.keepHourly } : {}),
    ...(options.keepDaily !== undefined ? { daily: options.keepDaily } : {}),
    ...(options.keepWeekly !== undefined ? { weekly: options.keepWeekly } : {}),
    ...(options.keepMonthly !== undefined ? { monthly: options.keepMonthly } : {}),
    ...(options.keepYearly !== undefined ? { yearly: options.keepYearly } : {}),
    ...(options.keepWithin !== undefined ? { within: options.keepWithin } : {}),
    ...(options.keepTag !== undefined ? { tags: options.keepTag } : {}),
  };
}

/** The value of a snapshot's `backup=<name>` tag. */
const backupOfTags = (tags: readonly string[]) =>
  tags.find((t) => t.startsWith('backup='))?.slice('backup='.length);

function forgetCommand(io: CliIO): Command {
  return new Command('forget')
    .description(
      "Remove the snapshots of a namespace's repository that a policy does not keep (restic forget)",
    )
    .argument('<namespace>', 'the namespace whose repository to thin out')
    .option('--keep-last <n>', 'keep the n newest snapshots', parseCount)
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the n newest hours', parseCount)
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the n newest days', parseCount)
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the n newest weeks', parseCount)
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the n newest months', parseCount)
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the n newest years', parseCount)
    .option(
      '--keep-within <duration>',
      'keep the snapshots newer than the newest minus this (1y2m7d3h)',
      nonEmpty,
    )
    .option(
      '--keep-tag <tags>',
      'keep the snapshots with all these tags (comma-separated; repeat for alternatives), e.g. backup=nightly-20261124020000',
      (value: string, previous: string[][] | undefined) => [
        ...(previous ?? []),
        collectList(value, undefined),
      ],
    )
    .option('--dry-run', 'only say what would be removed')
    .addOption(locationOption())
    .addOption(outputOption('print the plan as json or yaml'))
    .addHelpText(
      'after',
      `
The policy applies to each volume's snapshots on their own (grouped by path: /<namespace>/pvc/<claim>
or /<namespace>/pod/<pod>/<volume>), with restic's rules; a snapshot is kept when any flag keeps it. At
least one --keep flag is needed. The data the removed snapshots alone used stays until \`cairn repo
prune\`. A removed snapshot's backup can no longer restore that volume's files: the table names each
snapshot's backup (its tag backup=<name>).

${MODE_NOTE}

Examples:
  cairn repo forget shop --keep-last 7 --dry-run
  cairn repo forget shop --keep-daily 7 --keep-weekly 4 --keep-monthly 12
  cairn repo forget shop --keep-within 30d --keep-tag backup=before-upgrade`,
    )
    .action(async (namespace: string, options: ForgetOptions & ModeOptions, command: Command) => {
      const { forgetByPolicy, parseForgetDuration } = await import('../../repo/index.ts');
      const policy = policyOf(options);
      if (Object.keys(policy).length === 0)
        throw new Error(
          'no --keep flag given: forget keeps the snapshots they name and removes the rest (see --help)',
        );
      if (options.keepWithin !== undefined) {
        try {
          parseForgetDuration(options.keepWithin);
        } catch (error) {
          throw new Error(`--keep-within: ${(error as Error).message}`, { cause: error });
        }
      }
      const opened = await openFor(io, options, options.dryRun ? undefined : 'forget', command);
      try {
        const repo = await opened.repositories.repository(namespace, { create: false });
        const { plan, removed } = await forgetByPolicy(repo, policy, {
          now: Date.now(),
          dryRun: options.dryRun === true,
          lock: !options.dryRun,
        });
        const rows = plan.groups.flatMap((group) => [
          ...group.keep.map((k) => ({ action: 'keep', snapshot: k.snapshot, reasons: k.reasons })),
          ...group.remove.map((snapshot) => ({ action: 'remove', snapshot, reasons: [] as string[] })),
        ]);
        const goneBackups = [
          ...new Set(plan.groups.flatMap((g) => g.remove.map((s) => backupOfTags(s.tags) ?? '<unknown>'))),
        ];
        if (options.output && options.output !== 'table') {
          io.stdout.write(
            formatStructured(
              {
                location: opened.location,
                namespace,
                dryRun: options.dryRun === true,
                policy,
                snapshots: rows.map((r) => ({
                  action: r.action,
                  id: r.snapshot.id,
                  time: r.snapshot.time,
                  paths: r.snapshot.paths,
                  tags: r.snapshot.tags,
                  reasons: r.reasons,
                })),
                removed,
              },
              options.output,
            ),
          );
          return;
        }
        if (rows.length > 0)
          io.stdout.write(
            formatTable(
              ['ACTION', 'SNAPSHOT', 'TIME', 'PATH', 'BACKUP', 'REASONS'],
              rows.map((r) => [
                r.action,
                shortId(r.snapshot.id),
                r.snapshot.time.slice(0, 19).replace('T', ' '),
                r.snapshot.paths.join(','),
                backupOfTags(r.snapshot.tags) ?? '',
                r.reasons.join(', '),
              ]),
            ),
          );
        const total = rows.length;
        if (options.dryRun)
          io.stdout.write(
            `Dry run: would remove ${plan.remove.length} of ${total} snapshots; nothing was removed.\n`,
          );
        else
          io.stdout.write(
            `Removed ${removed.length} of ${total} snapshots from ${repositoryName(opened, namespace)}.` +
              (removed.length > 0 ? ` Their data stays until \`cairn repo prune ${namespace}\`.` : '') +
              '\n',
          );
        if (plan.remove.length > 0)
          io.stdout.write(
            `Backups whose files of these volumes ${options.dryRun ? 'would be' : 'are'} gone: ${goneBackups.join(', ')}.\n`,
          );
      } finally {
        await opened.repositories.close();
      }
    });
}

// ---------------------------------------------------------------------------------------------------
// prune

function pruneCommand(io: CliIO): Command {
  return new Command('prune')
    .description("Remove the data no snapshot of a namespace's repository uses (restic prune)")
    .argument('<namespace>', 'the namespace whose repository to prune')
    .option('--dry-run', 'only say what would be removed and repacked')
    .addOption(
      new Option(
        '--max-unused <limit>',
        'unused data to tolerate after pruning: a percentage of the used data, a size (100M, 2G), or unlimited',
      )
        .argParser(parseMaxUnused)
        .default({ fraction: 0.05 }, '5%'),
    )
    .addOption(locationOption())
    .addOption(outputOption('print the plan and statistics as json or yaml'))
    .addHelpText(
      'after',
      `
Deletes packs whose blobs no snapshot uses, and repacks partly used packs until at most --max-unused of
unused data is left (restic's plan and its crash-safe order: a prune interrupted at any point leaves
every snapshot whole). Holds an exclusive lock: no backup, restore or check of the namespace can run
meanwhile. Run it after \`cairn repo forget\`.

${MODE_NOTE}

Examples:
  cairn repo prune shop --dry-run
  cairn repo prune shop
  cairn repo prune shop --max-unused 0%`,
    )
    .action(
      async (
        namespace: string,
        options: LocationOption &
          ModeOptions & {
            dryRun?: boolean;
            maxUnused: { fraction: number } | { bytes: number };
            output?: OutputFormat;
          },
        command: Command,
      ) => {
        const { pruneRepository } = await import('../../repo/index.ts');
        const { progressReporter } = await import('../progress.ts');
        const opened = await openFor(io, options, options.dryRun ? undefined : 'prune', command);
        const progress = progressReporter(io.stderr, { unit: '' });
        try {
          const repo = await opened.repositories.repository(namespace, { create: false });
          const result = await pruneRepository(repo, {
            ...('fraction' in options.maxUnused
              ? { maxUnusedFraction: options.maxUnused.fraction }
              : { maxUnusedBytes: options.maxUnused.bytes }),
            dryRun: options.dryRun === true,
            // A dry run writes nothing, not even a lock (as restic's --dry-run --no-lock).
            lock: !options.dryRun,
            onProgress: maintenanceProgress(io, progress),
            logger: { warn: (message) => io.stderr.write(`warning: ${message}\n`) },
          }).finally(() => progress.end());
          if (options.output && options.output !== 'table') {
            io.stdout.write(
              formatStructured({ location: opened.location, namespace, ...result }, options.output),
            );
            return;
          }
          const { stats, plan } = result;
          const blobs = (n: number, bytes: number) => `${n} blobs / ${formatBytes(bytes)}`;
          const total = stats.bytes.used + stats.bytes.duplicate + stats.bytes.unused;
          io.stdout.write(
            `${repositoryName(opened, namespace)}:\n` +
              formatFields(
                [
                  ['used', blobs(stats.blobs.used, stats.bytes.used)],
                  ['duplicates', blobs(stats.blobs.duplicate, stats.bytes.duplicate)],
                  ['unused', blobs(stats.blobs.unused, stats.bytes.unused)],
                  [
                    'to repack',
                    `${blobs(stats.blobs.repack, stats.bytes.repack)} in ${stats.packs.repack} packs`,
                  ],
                  [
                    'to delete',
                    `${blobs(stats.blobs.delete, stats.bytes.delete)} in ${stats.packs.delete} packs`,
                  ],
                  [
                    'packs in no index',
                    `${plan.deleteUnindexed.length} (${formatBytes(stats.bytes.unindexed)})`,
                  ],
                  [
                    'unused after',
                    `${formatBytes(stats.unusedAfter)} (${total === 0 ? 0 : ((stats.unusedAfter / total) * 100).toFixed(1)}% of ${formatBytes(total)})`,
                  ],
                ],
                '  ',
              ),
          );
          if (result.dryRun) io.stdout.write('Dry run: nothing was changed.\n');
          else
            io.stdout.write(
              `Deleted ${stats.packsDeleted} packs, wrote ${stats.packsWritten} (${formatBytes(stats.bytesWritten)}); ` +
                `freed ${formatBytes(Math.max(0, stats.bytesFreed))}.\n`,
            );
          for (const pack of result.notDeleted)
            io.stderr.write(
              `warning: pack ${pack} could not be deleted; it is in no index, and the next prune deletes it\n`,
            );
        } finally {
          await opened.repositories.close();
        }
      },
    );
}

// ---------------------------------------------------------------------------------------------------
// passwords

function rotateKeyCommand(io: CliIO): Command {
  return new Command('rotate-key')
    .description("Give a namespace's repository a new random password, and remove the old one's key")
    .argument('<namespace>', 'the namespace whose repository gets a new password')
    .addOption(locationOption())
    .addHelpText(
      'after',
      `
Under an exclusive lock: adds a key file for a new random password, opens the repository with it,
replaces the password file (writing <file>.new and renaming it over the file), and only then removes the
old key file. If a step before the replacement fails, the new key file is removed again and the old
password keeps working; if removing the old key fails, both work until it is removed (the error names it).
A copy of the old password kept elsewhere stops working: keep a copy of the new file instead.

${MODE_NOTE}

Examples:
  cairn repo rotate-key shop
  cairn repo rotate-key shop --storage-location minio`,
    )
    .action(async (namespace: string, options: LocationOption & ModeOptions, command: Command) => {
      const opened = await openFor(io, options, 'rotate-key', command);
      try {
        const rotation = await opened.repositories.rotatePassword(namespace);
        io.stdout.write(
          `The repository ${repositoryName(opened, namespace)} has a new password, kept in ${rotation.password.replace(/^the file /, '')} ` +
            `(key file keys/${shortId(rotation.newKey)} added, keys/${shortId(rotation.oldKey)} removed). ` +
            'The old password no longer opens it: keep a copy of the new one.\n',
        );
      } finally {
        await opened.repositories.close();
      }
    });
}

function passwordCommand(io: CliIO): Command {
  return new Command('password')
    .description("Print where a namespace's repository password is kept (and, with --show, the password)")
    .argument('<namespace>', "the namespace whose repository's password")
    .option('--show', 'print the password itself: a secret that opens all the volume data of the namespace')
    .addOption(locationOption())
    .addHelpText(
      'after',
      `
Without --show, prints the password file's path. With --show, prints the password on stdout (the path
goes to stderr): it is a secret, as the location's key is; whoever has it and the location's
credentials reads every file of the namespace's volumes. Print it only to keep a copy somewhere safe,
or to hand it to restic (restic -r <location>/restic/<namespace> --password-file <file>).

${MODE_NOTE}

Examples:
  cairn repo password shop
  restic -r ~/.local/share/cairn/locations/default/restic/shop --password-file "$(cairn repo password shop)" snapshots
  cairn repo password shop --show > /safe/place/shop.password`,
    )
    .action(
      async (
        namespace: string,
        options: LocationOption & ModeOptions & { show?: boolean },
        command: Command,
      ) => {
        const server = await serverScope(io, command, options);
        // Where the password is kept (the Secret in server mode, the file standalone), and what it holds.
        let kept: { location: string; where: string; password: string | undefined; missing: string };
        if (server) {
          const { secretRepositoryPasswords } = await import('../../controller/index.ts');
          const location = serverLocation(await serverLocations(server), server, options.storageLocation)
            .metadata.name;
          const passwords = secretRepositoryPasswords(server);
          const where = passwords.where(location, namespace);
          const password = await passwords.get(location, namespace);
          kept = { location, where, password, missing: `there is no ${where}` };
        } else {
          const { findLocation, repositoryPasswordFile, withDefaultLocation } = await import('../config.ts');
          const { readFile } = await import('node:fs/promises');
          const location = findLocation(withDefaultLocation(io.env), options.storageLocation).name;
          const file = repositoryPasswordFile(io.env, location, namespace);
          let password: string | undefined;
          try {
            password = (await readFile(file, 'utf8')).trim();
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
          kept = { location, where: file, password, missing: `${file} does not exist` };
        }
        if (!options.show) io.stdout.write(`${kept.where}\n`);
        if (kept.password === undefined)
          throw new Error(
            `no password is kept for the repository restic/${namespace}/ of location "${kept.location}": ` +
              `${kept.missing} (a namespace's first volume backup makes it)`,
          );
        if (!options.show) return;
        io.stderr.write(
          `The password of restic/${namespace}/ of location "${kept.location}", from ${kept.where}:\n`,
        );
        io.stdout.write(`${kept.password}\n`);
      },
    );
}

export function repoCommand(io: CliIO, setExitCode: SetExitCode): Command {
  return new Command('repo')
    .description(
      'Look after the volume-data repositories of a location: list, check, forget, prune, passwords',
    )
    .addCommand(addModeOptions(getCommand(io, setExitCode)))
    .addCommand(addModeOptions(checkCommand(io, setExitCode)))
    .addCommand(addModeOptions(forgetCommand(io)))
    .addCommand(addModeOptions(pruneCommand(io)))
    .addCommand(addModeOptions(rotateKeyCommand(io)))
    .addCommand(addModeOptions(passwordCommand(io)));
}
