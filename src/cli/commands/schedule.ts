// `cairn schedule ...`: Schedules of the server installed in the cluster (cairn install). They are
// custom resources in the server's namespace; the server makes their backups. `describe` shows which
// retention rule keeps each of the schedule's backups, as the server's garbage collection decides.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Backup, RetentionPolicy, Schedule, ScheduleSpec } from '../../api/index.ts';
import type { KubeClient } from '../../kube/index.ts';
import type { CliIO } from '../io.ts';
import { kubeConfigOf, namespaceName } from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { formatFields, formatTable } from '../table.ts';
import {
  addBackupSpecOptions,
  readVolumePolicyOption,
  specFromOptions,
  type BackupSpecOptions,
} from './backup.ts';
import { goTime, shortDuration } from './backup-describe.ts';

interface ScheduleCreateOptions extends BackupSpecOptions {
  schedule: string;
  paused: boolean;
  skipImmediately: boolean;
  useOwnerReferencesInBackup: boolean;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepFailed?: number;
  deleteLockDays?: number;
  namespace: string;
  output?: OutputFormat;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`expected a whole number ≥ 0, got "${value}"`);
  return n;
}

const namespaceOption = () =>
  new Option('-n, --namespace <ns>', "the server's namespace").argParser(namespaceName).default('cairn');

async function clientOf(io: CliIO, command: Command): Promise<KubeClient> {
  const { KubeClient } = await import('../../kube/index.ts');
  return new KubeClient(await kubeConfigOf(io, command));
}

async function schedulesOf(client: KubeClient, namespace: string, names: string[]): Promise<Schedule[]> {
  const { resourcePath } = await import('../../controller/index.ts');
  if (names.length > 0)
    return Promise.all(
      names.map((name) => client.json<Schedule>({ path: resourcePath('Schedule', namespace, name) })),
    );
  return (await client.json<{ items: Schedule[] }>({ path: resourcePath('Schedule', namespace) })).items;
}

function createCommand(io: CliIO): Command {
  return addBackupSpecOptions(
    new Command('create')
      .description('Create a schedule: a backup made by the server on a cron schedule, with retention')
      .argument('<name>', 'the schedule name; its backups are named <name>-<YYYYMMDDhhmmss>')
      .requiredOption(
        '--schedule <cron>',
        'when: 5-field cron ("0 2 * * *"), CRON_TZ=<zone> first for a time zone, @daily..., or "@every 6h"',
      ),
  )
    .option('--paused', 'create it paused', false)
    .option('--skip-immediately', 'do not back up at once: wait for the first run', false)
    .option('--use-owner-references-in-backup', 'deleting the schedule deletes its Backup resources', false)
    .option('--keep-last <n>', 'retention: the newest N successful backups', count)
    .option('--keep-hourly <n>', 'retention: the newest backup of each of the last N hours', count)
    .option('--keep-daily <n>', 'retention: the newest backup of each of the last N days', count)
    .option('--keep-weekly <n>', 'retention: the newest backup of each of the last N weeks', count)
    .option('--keep-monthly <n>', 'retention: the newest backup of each of the last N months', count)
    .option('--keep-yearly <n>', 'retention: the newest backup of each of the last N years', count)
    .option('--keep-failed <n>', 'retention: failed backups kept, counted apart (default 3)', count)
    .option(
      '--delete-lock-days <n>',
      'no deletion of a backup (GC or by hand) for N days after it starts',
      count,
    )
    .addOption(namespaceOption())
    .addOption(
      new Option('-o, --output <format>', 'print the schedule as json or yaml').argParser(parseOutputFormat),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn schedule create nightly --schedule "0 2 * * *" --include-namespaces shop
  cairn schedule create hourly --schedule "@every 1h" --keep-hourly 24 --keep-daily 7 --keep-weekly 4
  cairn schedule create eu --schedule "CRON_TZ=Europe/Paris 30 3 * * *" --ttl 168h --skip-immediately

Without --keep-* flags each backup is kept for its --ttl (default 720h); with them, a backup is kept while
any rule keeps it, and --delete-lock-days holds it whatever the rules say.`,
    )
    .action(async (name: string, options: ScheduleCreateOptions, command: Command) => {
      const { CAIRN_API_VERSION, specProblems } = await import('../../api/index.ts');
      await readVolumePolicyOption(options);
      const { parseSchedule, resourcePath, ScheduleSyntaxError } = await import('../../controller/index.ts');
      const retention: RetentionPolicy = {
        ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
        ...(options.keepHourly !== undefined ? { hourly: options.keepHourly } : {}),
        ...(options.keepDaily !== undefined ? { daily: options.keepDaily } : {}),
        ...(options.keepWeekly !== undefined ? { weekly: options.keepWeekly } : {}),
        ...(options.keepMonthly !== undefined ? { monthly: options.keepMonthly } : {}),
        ...(options.keepYearly !== undefined ? { yearly: options.keepYearly } : {}),
        ...(options.keepFailed !== undefined ? { keepFailed: options.keepFailed } : {}),
      };
      const spec: ScheduleSpec = {
        schedule: options.schedule,
        template: {
          ...specFromOptions(options),
          ...(options.deleteLockDays !== undefined ? { deleteLockDays: options.deleteLockDays } : {}),
        },
        ...(options.paused ? { paused: true } : {}),
        ...(options.skipImmediately ? { skipImmediately: true } : {}),
        ...(options.useOwnerReferencesInBackup ? { useOwnerReferencesInBackup: true } : {}),
        ...(Object.keys(retention).length > 0 ? { retention } : {}),
      };
      // The same checks the server makes, before anything is created.
      const problems = specProblems('Schedule', spec).map((p) => ({ ...p, value: String(p.value) }));
      try {
        parseSchedule(options.schedule);
      } catch (error) {
        if (!(error instanceof ScheduleSyntaxError)) throw error;
        problems.push({ field: '--schedule', value: options.schedule, message: error.message });
      }
      if (problems.length > 0) throw Object.assign(new Error('invalid schedule'), { problems });
      const client = await clientOf(io, command);
      const created = await client.json<Schedule>({
        method: 'POST',
        path: resourcePath('Schedule', options.namespace),
        body: { apiVersion: CAIRN_API_VERSION, kind: 'Schedule', metadata: { name }, spec },
      });
      if (options.output && options.output !== 'table') {
        io.stdout.write(formatStructured(created, options.output));
        return;
      }
      io.stdout.write(
        `Schedule "${name}" created in namespace ${options.namespace}` +
          (options.paused
            ? ' (paused)'
            : options.skipImmediately
              ? '; its first backup waits for the first run'
              : '; the server backs up now') +
          `.\nRun \`cairn schedule describe ${name}\` to see its next run.\n`,
      );
    });
}

function getCommand(io: CliIO): Command {
  return new Command('get')
    .description('List schedules: status, cron, last backup and next run')
    .argument('[names...]', 'schedules to show (default: all)')
    .addOption(namespaceOption())
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText('after', '\nExamples:\n  cairn schedule get\n  cairn schedule get nightly -o yaml')
    .action(
      async (names: string[], options: { namespace: string; output: OutputFormat }, command: Command) => {
        const schedules = await schedulesOf(await clientOf(io, command), options.namespace, names);
        if (options.output !== 'table') {
          io.stdout.write(
            formatStructured(
              names.length === 1 ? schedules[0] : { apiVersion: 'v1', kind: 'List', items: schedules },
              options.output,
            ),
          );
          return;
        }
        const now = Date.now();
        io.stdout.write(
          formatTable(
            [
              'NAME',
              'STATUS',
              'CREATED',
              'SCHEDULE',
              'BACKUP TTL',
              'LAST BACKUP',
              'NEXT RUN',
              'SELECTOR',
              'PAUSED',
            ],
            schedules.map((s) => [
              s.metadata.name,
              s.status?.phase ?? 'New',
              goTime(s.metadata.creationTimestamp),
              s.spec.schedule,
              s.spec.template.ttl ?? '720h0m0s',
              s.status?.lastBackup ? `${shortDuration(now - Date.parse(s.status.lastBackup))} ago` : 'n/a',
              s.spec.paused
                ? 'n/a'
                : s.status?.nextRun
                  ? `in ${shortDuration(Date.parse(s.status.nextRun) - now)}`
                  : 'n/a',
              s.spec.template.labelSelector ?? '<none>',
              String(s.spec.paused === true),
            ]),
          ),
        );
      },
    );
}

function describeCommand(io: CliIO): Command {
  return new Command('describe')
    .description('Show a schedule, its backups, and the retention rule that keeps each (or that none does)')
    .argument('<name>', 'the schedule')
    .addOption(namespaceOption())
    .addOption(
      new Option(
        '-o, --output <format>',
        'json or yaml: the schedule and each backup with the rules that keep it',
      ).argParser(parseOutputFormat),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  cairn schedule describe nightly\n  cairn schedule describe nightly -o json',
    )
    .action(async (name: string, options: { namespace: string; output?: OutputFormat }, command: Command) => {
      const { decideRetention, deleteLockUntil, parseSchedule, resourcePath } =
        await import('../../controller/index.ts');
      const { scheduleOf } = await import('../../api/index.ts');
      const client = await clientOf(io, command);
      const [schedule] = await schedulesOf(client, options.namespace, [name]);
      if (!schedule) return;
      const backups = (
        await client.json<{ items: Backup[] }>({ path: resourcePath('Backup', options.namespace) })
      ).items
        .filter((b) => scheduleOf(b) === name)
        .sort((a, b) => ((a.status?.startTimestamp ?? '') < (b.status?.startTimestamp ?? '') ? 1 : -1));
      const { spec, status } = schedule;
      const retention = spec.retention;
      // The next run in the schedule's own zone too, when it has one (CRON_TZ=...).
      let zone: string | undefined;
      try {
        const parsed = parseSchedule(spec.schedule);
        if (parsed.kind === 'cron' && parsed.timezone !== 'UTC') zone = parsed.timezone;
      } catch {
        zone = undefined;
      }
      const inZone = (time: string) =>
        new Intl.DateTimeFormat('sv-SE', {
          timeZone: zone,
          year: 'numeric',
          month: '2-digit',
          day: '2-digit',
          hour: '2-digit',
          minute: '2-digit',
          second: '2-digit',
          hourCycle: 'h23',
        }).format(new Date(time));
      const nextRun = spec.paused
        ? '<paused>'
        : goTime(status?.nextRun) + (zone && status?.nextRun ? ` (${inZone(status.nextRun)} ${zone})` : '');
      const decide = () =>
        decideRetention(
          backups.map((b) => {
            const lock = deleteLockUntil(b);
            return {
              name: b.metadata.name,
              startTimestamp: b.status?.startTimestamp ?? b.metadata.creationTimestamp ?? '',
              phase: b.status?.phase ?? 'New',
              ...(b.status?.expiration ? { expiration: b.status.expiration } : {}),
              ...(lock ? { deleteLockUntil: lock } : {}),
              ...(b.spec.ttl ? { ttl: b.spec.ttl } : {}),
            };
          }),
          retention,
          new Date(),
        );
      if (options.output && options.output !== 'table') {
        const decisions = decide();
        io.stdout.write(
          formatStructured(
            {
              schedule,
              backups: backups.map((b, i) => ({
                name: b.metadata.name,
                phase: b.status?.phase ?? 'New',
                startTimestamp: b.status?.startTimestamp,
                keep: decisions[i]?.keep,
                reasons: decisions[i]?.reasons,
              })),
            },
            options.output,
          ),
        );
        return;
      }
      io.stdout.write(
        formatFields([
          ['Name', name],
          ['Namespace', options.namespace],
          ['Phase', status?.phase ?? 'New'],
          ...(status?.validationErrors?.length
            ? ([['Validation errors', status.validationErrors.join('; ')]] as [string, string][])
            : []),
          ['Schedule', spec.schedule],
          ['Paused', String(spec.paused === true)],
          ['Skip immediately', String(spec.skipImmediately === true)],
          ['Last backup', goTime(status?.lastBackup)],
          ['Next run', nextRun],
          ['Namespaces', (spec.template.includedNamespaces ?? ['*']).join(', ')],
          ['Excluded namespaces', (spec.template.excludedNamespaces ?? []).join(', ') || '<none>'],
          ['Resources', (spec.template.includedResources ?? ['*']).join(', ')],
          ['Label selector', spec.template.labelSelector ?? '<none>'],
          ['Storage location', spec.template.storageLocation ?? '<default>'],
          ['TTL', spec.template.ttl ?? '720h0m0s'],
          ['Delete lock', spec.template.deleteLockDays ? `${spec.template.deleteLockDays} days` : '<none>'],
          [
            'Retention',
            retention
              ? (['keepLast', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'keepFailed'] as const)
                  .filter((rule) => retention[rule] !== undefined)
                  .map((rule) => `${rule} ${String(retention[rule])}`)
                  .join(', ')
              : 'each backup until its TTL',
          ],
        ]),
      );
      io.stdout.write(`\nBackups (${backups.length}):\n`);
      if (backups.length === 0) {
        io.stdout.write('  <none>\n');
        return;
      }
      const decisions = decide();
      io.stdout.write(
        formatTable(
          ['  NAME', 'STATUS', 'STARTED', 'KEPT BY'],
          backups.map((b, i) => {
            const decision = decisions[i];
            const running = ['New', 'InProgress', undefined].includes(b.status?.phase);
            return [
              `  ${b.metadata.name}`,
              b.status?.phase ?? 'New',
              goTime(b.status?.startTimestamp),
              running
                ? '<running>'
                : decision?.keep
                  ? decision.reasons.join(', ')
                  : `nothing: deleted at the next collection`,
            ];
          }),
        ),
      );
    });
}

function pauseCommand(io: CliIO, paused: boolean): Command {
  const verb = paused ? 'pause' : 'unpause';
  return new Command(verb)
    .description(paused ? 'Stop a schedule from making backups' : 'Let a paused schedule make backups again')
    .argument('<names...>', 'schedules')
    .addOption(namespaceOption())
    .addHelpText('after', `\nExamples:\n  cairn schedule ${verb} nightly`)
    .action(async (names: string[], options: { namespace: string }, command: Command) => {
      const { resourcePath } = await import('../../controller/index.ts');
      const client = await clientOf(io, command);
      for (const name of names) {
        await client.json({
          method: 'PATCH',
          path: resourcePath('Schedule', options.namespace, name),
          contentType: 'application/merge-patch+json',
          body: { spec: { paused } },
        });
        io.stdout.write(`Schedule "${name}" ${paused ? 'paused' : 'unpaused'}.\n`);
      }
    });
}

function deleteCommand(io: CliIO): Command {
  return new Command('delete')
    .description('Delete schedules (their backups stay, unless they have owner references to it)')
    .argument('<names...>', 'schedules')
    .addOption(namespaceOption())
    .option('--confirm', 'do not ask', false)
    .addHelpText('after', '\nExamples:\n  cairn schedule delete nightly --confirm')
    .action(async (names: string[], options: { namespace: string; confirm: boolean }, command: Command) => {
      if (!options.confirm)
        throw new Error(`deleting schedule(s) ${names.join(', ')}: run again with --confirm`);
      const { resourcePath } = await import('../../controller/index.ts');
      const client = await clientOf(io, command);
      for (const name of names) {
        await client.json({ method: 'DELETE', path: resourcePath('Schedule', options.namespace, name) });
        io.stdout.write(`Schedule "${name}" deleted.\n`);
      }
    });
}

export function scheduleCommand(io: CliIO): Command {
  return new Command('schedule')
    .description("Create and manage the server's backup schedules (needs cairn install)")
    .addCommand(createCommand(io))
    .addCommand(getCommand(io))
    .addCommand(describeCommand(io))
    .addCommand(pauseCommand(io, true))
    .addCommand(pauseCommand(io, false))
    .addCommand(deleteCommand(io));
}
