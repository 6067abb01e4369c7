// `cairn backup verify NAME`: a restore drill. The backup is restored into fresh namespaces of the current
// cluster (or, with --in-place, as it is: point --kubeconfig at a scratch cluster), every restored object
// is compared with the archive after the reset rules, the differences are reported, and the drill's
// namespaces are deleted.
import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import type { CliIO } from '../io.ts';
import { kubeConfigOf, objectName } from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { progressReporter } from '../progress.ts';
import {
  checkName,
  copiesOf,
  isCommitted,
  messageOf,
  notFound,
  openCatalog,
  reportUnavailable,
} from './backup-catalog.ts';

interface VerifyOptions {
  storageLocation?: string;
  inPlace?: boolean;
  keep?: boolean;
  output?: OutputFormat;
  quick?: boolean;
}

/**
 * `backup verify --quick`: every committed copy's stored files against their checksum manifest, each
 * outcome recorded in its location (a location that cannot record it, ReadOnly say, is named on stderr).
 */
async function quickVerify(
  io: CliIO,
  name: string,
  options: VerifyOptions,
  setExitCode: (code: number) => void,
): Promise<void> {
  if (options.inPlace || options.keep)
    throw new Error('--quick runs no restore drill: it cannot be used with --in-place or --keep');
  checkName(name);
  const catalog = await openCatalog(io, options.storageLocation);
  const copies = (await copiesOf(catalog, name)).filter(isCommitted);
  reportUnavailable(io, catalog, setExitCode);
  if (copies.length === 0) throw notFound([name], catalog);
  const now = () => new Date();
  const checked = [];
  // Each copy on its own: one that cannot be checked (a Velero backup has no manifest, a location fails
  // mid-way) is named, and the others are still checked and recorded.
  const unchecked: { location: string; reason: string }[] = [];
  for (const copy of copies) {
    let record;
    try {
      record = await copy.store.verifyChecksums(name, { now });
    } catch (error) {
      unchecked.push({ location: copy.location, reason: messageOf(error) });
      continue;
    }
    checked.push({ location: copy.location, ...record });
    try {
      await copy.store.recordVerification(name, record);
    } catch (error) {
      io.stderr.write(
        `warning: the outcome could not be recorded in location "${copy.location}": ${messageOf(error)}\n`,
      );
    }
  }
  const failed = checked.filter((c) => c.outcome === 'Failed');
  if (failed.length > 0) setExitCode(2);
  else if (checked.length === 0) setExitCode(1);
  if (options.output && options.output !== 'table') {
    io.stdout.write(formatStructured({ backup: name, locations: checked, unchecked }, options.output));
    return;
  }
  for (const u of unchecked) io.stdout.write(`Location "${u.location}": NOT CHECKED: ${u.reason}\n`);
  for (const c of checked) {
    io.stdout.write(
      c.outcome === 'Passed'
        ? `Location "${c.location}": Passed, ${c.files} files as written.\n`
        : `Location "${c.location}": FAILED\n${c.problems.map((p) => `  ${p}\n`).join('')}`,
    );
  }
  io.stdout.write(
    checked.length === 0
      ? `NOT verified: no copy of backup "${name}" could be checked.\n`
      : failed.length === 0
        ? `Verified: every stored file of backup "${name}" matches its checksum${unchecked.length > 0 ? ` in ${checked.map((c) => `"${c.location}"`).join(', ')}` : ''}.\n`
        : `NOT verified: backup "${name}" is corrupt in ${failed.map((c) => `"${c.location}"`).join(', ')}.\n`,
  );
}

export function verifyCommand(io: CliIO, setExitCode: (code: number) => void): Command {
  return new Command('verify')
    .description(
      'Restore a backup into scratch namespaces (or a scratch cluster), compare every object with the backup, clean up',
    )
    .argument('<name>', 'the backup')
    .option(
      '--storage-location <location>',
      'the location holding the backup (default: the first that has it)',
      objectName,
    )
    .option(
      '--in-place',
      'restore as backed up, cluster-scoped objects too (for a scratch cluster: --kubeconfig)',
    )
    .option('--keep', "leave the drill's namespaces in place to inspect them")
    .option(
      '--quick',
      'no drill: check every stored file of each copy against its recorded checksum (no cluster, no key needed)',
    )
    .addOption(
      new Option('-o, --output <format>', 'print the report as json or yaml').argParser(parseOutputFormat),
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 every object restored equal to the backup; 2 differences or items not restored; 1 the drill
could not run.

--quick reads every file of the backup in each location holding it (or only --storage-location) and
compares it with the checksum recorded when it was written; the outcome is recorded beside the backup,
and \`backup describe\` and \`backup get\` show it. Exit codes: 0 every file as written; 2 a file missing,
truncated or changed; 1 the check could not run.

Examples:
  cairn backup verify nightly-20261124
  cairn backup verify shop --keep
  cairn backup verify shop --quick
  cairn --kubeconfig scratch.yaml backup verify shop --in-place -o json`,
    )
    .action(async (name: string, options: VerifyOptions, command: Command) => {
      if (options.quick) {
        await quickVerify(io, name, options, setExitCode);
        return;
      }
      const { verifyBackup } = await import('../../restore/index.ts');
      const { KubeClient } = await import('../../kube/index.ts');
      const catalog = await openCatalog(io, options.storageLocation);
      const copy = (await copiesOf(catalog, name)).find((c) => isCommitted(c));
      if (!copy) throw notFound([name], catalog);
      const client = new KubeClient(await kubeConfigOf(io, command));
      const progress = progressReporter(io.stderr);
      io.stderr.write(`Restoring backup "${name}" from location "${copy.location}" for a drill...\n`);
      const report = await verifyBackup({
        client,
        backups: copy.store,
        backupName: name,
        mode: options.inPlace ? 'in-place' : 'mapped',
        keep: options.keep === true,
        now: () => new Date(),
        suffix: randomBytes(3).toString('hex'),
        onProgress: (p) => progress.update(p.itemsRestored, p.totalItems, p.currentResource),
      }).finally(() => progress.end());
      const ok = report.differences.length === 0 && report.restorePhase === 'Completed';
      setExitCode(ok ? 0 : 2);
      if (options.output && options.output !== 'table') {
        io.stdout.write(formatStructured(report, options.output));
        return;
      }
      const { formatDiff } = await import('../../restore/index.ts');
      const mapped = Object.entries(report.namespaces);
      if (mapped.length > 0)
        io.stdout.write(`Namespaces: ${mapped.map(([from, to]) => `${from} → ${to}`).join(', ')}\n`);
      io.stdout.write(
        `Restore ${report.restorePhase}; ${report.compared} objects compared, ${report.equal} equal to the backup, ` +
          `${report.differences.length} with problems, ${report.notRestored.length} left out on purpose.\n`,
      );
      for (const d of report.differences) {
        io.stdout.write(
          `  ${d.groupResource} ${d.namespace ? `${d.namespace}/` : ''}${d.name}: ${d.problem}\n`,
        );
        if (d.diff)
          io.stdout.write(
            formatDiff(d.diff)
              .split('\n')
              .map((l) => `      ${l}\n`)
              .join(''),
          );
      }
      if (report.notRestored.length > 0) {
        const reasons = new Map<string, number>();
        for (const n of report.notRestored) reasons.set(n.reason, (reasons.get(n.reason) ?? 0) + 1);
        io.stdout.write('Left out on purpose:\n');
        for (const [reason, count] of reasons) io.stdout.write(`  ${count} × ${reason}\n`);
      }
      if (report.cleanedUp) io.stdout.write(`The drill's namespaces are being deleted.\n`);
      else if (mapped.length > 0) io.stdout.write(`The drill's namespaces were kept (--keep).\n`);
      io.stdout.write(
        ok ? 'Verified: the backup restores as it was taken.\n' : 'NOT verified: see the problems above.\n',
      );
    });
}
