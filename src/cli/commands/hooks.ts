// `cairn hooks validate -f FILE...`: the backup and restore hooks that would run in each pod of some
// manifests — Pods, or the pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
// CronJobs — read as a backup and a restore read them (src/backup/hooks.ts, src/restore/hooks.ts), with
// every annotation that would not run as written named. With `--backup FILE`, a Backup's (or Schedule's)
// hook sets apply too; with `--restore FILE`, a Restore's. Nothing is run and no cluster is needed: a typo
// shows before the night the backup (or the restore) is needed.
import { Command, Option } from 'commander';
import type { BackupResourceHook, RestoreResourceHook } from '../../api/index.ts';
import type { HookPod, PodBackupHooks, PodExecHook } from '../../backup/index.ts';
import type { PodRestoreHooks, RestoreExecHook, RestoreInitHook } from '../../restore/index.ts';
import type { CliIO } from '../io.ts';
import { isRecord, readManifests } from '../manifests.ts';
import { existingFile } from '../options.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';

type SetExitCode = (code: number) => void;

/** The kinds whose objects hold a pod template, and where. */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

interface Found {
  /** `Deployment shop/db` or `Pod shop/db-0`. */
  object: string;
  pod: HookPod;
}

/** The pod of an object: itself, or its template (with the object's namespace); undefined for others. */
function podOf(object: unknown): Found | undefined {
  if (!isRecord(object) || typeof object.kind !== 'string') return undefined;
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
  const name = typeof metadata.name === 'string' ? metadata.name : '<no name>';
  const label = `${object.kind} ${namespace}/${name}`;
  if (object.kind === 'Pod')
    return {
      object: label,
      pod: { ...(object as unknown as HookPod), metadata: { ...metadata, namespace, name } },
    };
  const path = TEMPLATE_PATHS[object.kind];
  if (!path) return undefined;
  let template: unknown = object;
  for (const key of path) template = isRecord(template) ? template[key] : undefined;
  if (!isRecord(template)) return undefined;
  const templateMetadata = isRecord(template.metadata) ? template.metadata : {};
  return {
    object: label,
    pod: {
      metadata: { ...templateMetadata, namespace, name },
      spec: template.spec as HookPod['spec'],
    },
  };
}

interface PodReport {
  object: string;
  pre: PodExecHook[];
  post: PodExecHook[];
  restore: { init: RestoreInitHook[]; exec: RestoreExecHook[] };
  problems: string[];
}

function restoreInitLine(hook: RestoreInitHook): string {
  return (
    `  restore init container ${hook.container.name} (image ${hook.container.image ?? '?'}): ` +
    `${hook.container.command ? JSON.stringify(hook.container.command) : "the image's entrypoint"} ` +
    `(watched ${hook.timeoutMs / 1000} s; from ${hook.from})\n`
  );
}

function restoreExecLine(hook: RestoreExecHook): string {
  const wait = `${hook.waitForReady ? 'ready' : 'running'} within ${hook.waitTimeoutMs === undefined ? 'no limit' : `${hook.waitTimeoutMs / 1000} s`}`;
  return (
    `  restore exec in container ${hook.container} once ${wait}: ${JSON.stringify(hook.command)} ` +
    `(on-error ${hook.onError}, timeout ${hook.execTimeoutMs / 1000} s; from ${hook.from})\n`
  );
}

export function hookLine(hook: PodExecHook): string {
  return (
    `  ${hook.phase} in container ${hook.container}: ${JSON.stringify(hook.command)} ` +
    `(on-error ${hook.onError}, timeout ${hook.timeoutMs / 1000} s; from ${hook.from})\n`
  );
}

export function hooksCommand(io: CliIO, setExitCode: SetExitCode): Command {
  const hooks = new Command('hooks').description('Check backup and restore hooks before they are needed');
  hooks
    .command('validate')
    .description(
      'List the backup and restore hooks each pod (or pod template) of the manifests would run, and name every hook ' +
        'annotation or hook set that would not run as written',
    )
    .addOption(
      new Option('-f, --filename <file>', 'a manifest: Pods, workloads with pod templates, Lists (repeat it)')
        .argParser((value: string, previous: string[] | undefined) => [
          ...(previous ?? []),
          existingFile(value),
        ])
        .makeOptionMandatory(),
    )
    .option(
      '--backup <file>',
      'a Backup or Schedule manifest whose hook sets (spec.hooks.resources) apply too',
      existingFile,
    )
    .option(
      '--restore <file>',
      'a Restore manifest whose hook sets (spec.hooks.resources) apply too',
      existingFile,
    )
    .addOption(
      new Option('-o, --output <format>', 'table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
A pod's hooks come from its annotations (pre.hook.backup.cairn.dev/command and the like, or Velero's
pre.hook.backup.velero.io/...; post.hook.restore.* and init.hook.restore.* for restore hooks), or, for a
phase its annotations leave out, from the Backup's (or Restore's) hook sets that select it. Nothing is run
and no cluster is contacted. Exit code 1 when anything would not run as written.

Examples:
  cairn hooks validate -f postgres-statefulset.yaml
  kubectl get pods -n shop -o yaml > pods.yaml && cairn hooks validate -f pods.yaml
  cairn hooks validate -f app.yaml --backup nightly-backup.yaml -o json
  cairn hooks validate -f db.yaml --restore restore-with-hooks.yaml`,
    )
    .action(
      async (options: { filename: string[]; backup?: string; restore?: string; output: OutputFormat }) => {
        const { backupHooksForPod, hookSpecProblems } = await import('../../backup/index.ts');
        const { restoreHooksForPod, restoreHookSpecProblems } = await import('../../restore/index.ts');
        // Read with their kind's schema: a file that is not a hook set at all is an error naming it.
        const { backupHooksOfFile, restoreHooksOfFile } = await import('../hook-files.ts');
        const sets: BackupResourceHook[] = options.backup
          ? ((await backupHooksOfFile(options.backup, '--backup'))?.resources ?? [])
          : [];
        const restoreSets: RestoreResourceHook[] = options.restore
          ? ((await restoreHooksOfFile(options.restore, '--restore'))?.resources ?? [])
          : [];
        const backupSetProblems = hookSpecProblems(sets).map(
          (p) => `${options.backup ?? ''}: ${p.field} ${JSON.stringify(p.value)}: ${p.message}`,
        );
        const restoreSetProblems = restoreHookSpecProblems(restoreSets).map(
          (p) => `${options.restore ?? ''}: ${p.field} ${JSON.stringify(p.value)}: ${p.message}`,
        );
        const setProblems = [...backupSetProblems, ...restoreSetProblems];
        const reports: PodReport[] = [];
        for (const file of options.filename)
          for (const object of readManifests([file], '--backup')) {
            const found = podOf(object);
            if (!found) continue;
            // A set that cannot be read selects nothing here (validation refuses the backup anyway).
            let hooksOfPod: PodBackupHooks;
            try {
              hooksOfPod = backupHooksForPod(found.pod, backupSetProblems.length > 0 ? [] : sets);
            } catch (error) {
              hooksOfPod = { pre: [], post: [], problems: [(error as Error).message] };
            }
            let restoreHooks: PodRestoreHooks;
            try {
              restoreHooks = restoreHooksForPod(
                found.pod,
                found.pod.metadata.namespace ?? 'default',
                restoreSetProblems.length > 0 ? [] : restoreSets,
              );
            } catch (error) {
              restoreHooks = { init: [], exec: [], problems: [(error as Error).message] };
            }
            reports.push({
              object: found.object,
              pre: hooksOfPod.pre,
              post: hooksOfPod.post,
              restore: { init: restoreHooks.init, exec: restoreHooks.exec },
              problems: [...hooksOfPod.problems, ...restoreHooks.problems],
            });
          }
        const problems = setProblems.length + reports.reduce((n, r) => n + r.problems.length, 0);
        if (problems > 0) setExitCode(1);
        if (options.output !== 'table') {
          io.stdout.write(formatStructured({ hookSetProblems: setProblems, pods: reports }, options.output));
          return;
        }
        let out = '';
        for (const problem of setProblems) out += `problem: ${problem}\n`;
        for (const report of reports) {
          out += `${report.object}:\n`;
          const { init, exec } = report.restore;
          if (report.pre.length + report.post.length + init.length + exec.length === 0) out += '  no hooks\n';
          for (const hook of [...report.pre, ...report.post]) out += hookLine(hook);
          for (const hook of init) out += restoreInitLine(hook);
          for (const hook of exec) out += restoreExecLine(hook);
          for (const problem of report.problems) out += `  problem: ${problem}\n`;
        }
        if (reports.length === 0) out += 'No pods or pod templates in the manifests.\n';
        out += `${reports.length} pods, ${problems} problems\n`;
        io.stdout.write(out);
      },
    );
  return hooks;
}
