// Backup hooks from a pod's annotations, as Velero reads them (internal/hook/item_hook_handler.go), in
// Cairn's spelling and Velero's: for each phase, `<phase>.hook.backup.cairn.dev/{command,container,on-error,
// timeout}` or `<phase>.hook.backup.velero.io/...` (Velero's unphased `hook.backup.velero.io/...` is a pre
// hook). `command` is a JSON array when it starts with `[`, else one argument (no shell); `container`
// defaults to the pod's first container; `on-error` is Continue or Fail (default Fail); `timeout` a Go
// duration (default 30s). Where Velero quietly uses a default for a value it cannot read, the problem is
// reported here too (naming the annotation and its value), so that `--dry-run` can show a typo before the
// night the backup is needed; the hook still runs as Velero would run it.
//
// `runHooks` runs a pod's hooks of one phase through pods/exec, in order, and says what happened to each.
import { parseGoDuration, type BackupResourceHook, parseHookCommand, type HookResult } from '../api/index.ts';
import {
  podSetProblems,
  podSetSelects,
  execFailureText,
  formatCommand,
  type ExecOptions,
  type ExecResult,
} from '../kube/index.ts';
import type { ValidationProblem } from './selection.ts';

export type HookPhase = 'pre' | 'post';
export type HookOnError = 'Continue' | 'Fail';

/** One exec hook, resolved for a pod. */
export interface PodExecHook {
  phase: HookPhase;
  container: string;
  command: string[];
  onError: HookOnError;
  timeoutMs: number;
  /** The annotation prefix it was read from, for messages. */
  from: string;
}

export interface PodBackupHooks {
  pre: PodExecHook[];
  post: PodExecHook[];
  /** What could not be read as written, each naming the annotation and value; the hooks above say what runs. */
  problems: string[];
}

/** What the hooks need of a pod. */
export interface HookPod {
  metadata: {
    namespace?: string | undefined;
    name?: string | undefined;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: { containers?: { name: string }[] } | undefined;
}

export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

/** The prefixes of each phase, in order of precedence: Cairn's spelling, then Velero's. */
const PREFIXES: Record<HookPhase, readonly string[]> = {
  pre: ['pre.hook.backup.cairn.dev/', 'pre.hook.backup.velero.io/', 'hook.backup.velero.io/'],
  post: ['post.hook.backup.cairn.dev/', 'post.hook.backup.velero.io/'],
};
const FIELDS = ['command', 'container', 'on-error', 'timeout'] as const;

/** The backup hooks a pod's annotations ask for. */
export function backupHooksFromAnnotations(pod: HookPod): PodBackupHooks {
  const annotations = pod.metadata.annotations ?? {};
  const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  const result: PodBackupHooks = { pre: [], post: [], problems: [] };

  // Annotations of a hook prefix whose field is not one of the four: a typo that would silently be ignored.
  for (const key of Object.keys(annotations).sort()) {
    for (const prefix of [...PREFIXES.pre, ...PREFIXES.post]) {
      if (!key.startsWith(prefix)) continue;
      const field = key.slice(prefix.length);
      if (!(FIELDS as readonly string[]).includes(field))
        result.problems.push(
          `pod ${podName}: annotation ${key} is not a hook field (${FIELDS.map((f) => prefix + f).join(', ')})`,
        );
    }
  }

  for (const phase of ['pre', 'post'] as const) {
    const given = PREFIXES[phase].filter((prefix) => annotations[`${prefix}command`] !== undefined);
    const [prefix, ...ignored] = given;
    for (const other of ignored)
      result.problems.push(
        `pod ${podName}: ${other}command is ignored: ${prefix}command is given too, and takes precedence`,
      );
    if (prefix === undefined) {
      for (const candidate of PREFIXES[phase])
        for (const field of FIELDS.slice(1))
          if (annotations[`${candidate}${field}`] !== undefined)
            result.problems.push(
              `pod ${podName}: ${candidate}${field} is set but ${candidate}command is not: no ${phase} hook runs`,
            );
      continue;
    }
    const value = (field: (typeof FIELDS)[number]) => annotations[`${prefix}${field}`];
    const problem = (field: string, text: string) =>
      result.problems.push(
        `pod ${podName}: ${prefix}${field} ${JSON.stringify(value(field as never))}: ${text}`,
      );

    const command = parseHookCommand(value('command') as string);
    if (typeof command === 'string') {
      problem('command', command);
      continue;
    }

    let container = value('container');
    if (container === undefined || container === '') {
      container = containers[0];
      if (container === undefined) {
        result.problems.push(`pod ${podName}: the pod has no containers to run its ${phase} hook in`);
        continue;
      }
    } else if (containers.length > 0 && !containers.includes(container)) {
      problem('container', `the pod has no such container (it has ${containers.join(', ')})`);
      continue;
    }

    let onError: HookOnError = 'Fail';
    const onErrorText = value('on-error');
    if (onErrorText !== undefined) {
      if (onErrorText === 'Continue' || onErrorText === 'Fail') onError = onErrorText;
      else problem('on-error', 'is not Continue or Fail; Fail applies (as Velero does)');
    }

    let timeoutMs = DEFAULT_HOOK_TIMEOUT_MS;
    const timeoutText = value('timeout');
    if (timeoutText !== undefined) {
      const parsed = parseGoDuration(timeoutText);
      if (parsed === undefined || parsed <= 0)
        problem('timeout', 'is not a positive duration such as 30s or 2m; 30s applies');
      else timeoutMs = parsed;
    }

    result[phase].push({ phase, container, command, onError, timeoutMs, from: prefix });
  }
  return result;
}

export type PodExec = (options: ExecOptions) => Promise<ExecResult>;

/**
 * Runs the hooks of one phase of a pod in order. A hook fails when it cannot be run (no such container,
 * the executable not found), exits with another code than 0, or does not end within its timeout. After a
 * failure with on-error Fail the rest are not run (recorded NotRun, as Velero does); with Continue they
 * are. Once `signal` aborts, the hook under way fails and the rest are NotRun: this never throws, so
 * the caller always has every hook's outcome. `failed` is the first failure with on-error Fail, if any.
 */
export async function runHooks(
  exec: PodExec,
  pod: { namespace: string; name: string },
  hooks: readonly PodExecHook[],
  signal?: AbortSignal,
): Promise<{ results: HookResult[]; failed: HookResult | undefined }> {
  const results: HookResult[] = [];
  let failed: HookResult | undefined;
  const podName = `${pod.namespace}/${pod.name}`;
  for (const hook of hooks) {
    const base = {
      pod: podName,
      phase: hook.phase,
      container: hook.container,
      command: hook.command,
      onError: hook.onError,
    };
    const what = `${hook.phase} hook ${formatCommand(hook.command)} in pod ${podName} container ${hook.container}`;
    if (failed || signal?.aborted) {
      results.push({
        ...base,
        outcome: 'NotRun',
        message: failed
          ? `${what} was not run: an earlier ${hook.phase} hook failed (on-error Fail)`
          : `${what} was not run: the backup was stopped`,
      });
      continue;
    }
    const ran = await exec({
      namespace: pod.namespace,
      pod: pod.name,
      container: hook.container,
      command: hook.command,
      timeoutMs: hook.timeoutMs,
      signal,
    });
    const output = {
      exitCode: ran.exitCode,
      durationMs: ran.durationMs,
      ...(ran.stdout !== '' && { stdout: ran.stdout }),
      ...(ran.stderr !== '' && { stderr: ran.stderr }),
    };
    if (ran.exitCode === 0 && !ran.timedOut) {
      results.push({ ...base, outcome: 'Succeeded', ...output });
      continue;
    }
    const why = execFailureText(ran, hook.timeoutMs);
    const rule =
      hook.onError === 'Fail'
        ? `on-error Fail: the pod's ${hook.phase === 'pre' ? 'volumes are not backed up and its remaining pre hooks not run' : 'remaining post hooks are not run'}`
        : 'on-error Continue';
    const result: HookResult = { ...base, outcome: 'Failed', ...output, message: `${what} ${why} (${rule})` };
    results.push(result);
    if (hook.onError === 'Fail') failed = result;
  }
  return { results, failed };
}

/**
 * A pod's backup hooks: for each phase, the hook its annotations give, or else those of every hook set
 * of the Backup spec that selects the pod, in order (Velero's precedence, phase by phase).
 */
export function backupHooksForPod(pod: HookPod, sets: readonly BackupResourceHook[] = []): PodBackupHooks {
  const hooks = backupHooksFromAnnotations(pod);
  const annotations = pod.metadata.annotations ?? {};
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  for (const phase of ['pre', 'post'] as const) {
    if (PREFIXES[phase].some((prefix) => annotations[`${prefix}command`] !== undefined)) continue;
    sets.forEach((set, i) => {
      if (!podSetSelects(set, pod.metadata.namespace ?? '', pod.metadata.labels)) return;
      for (const { exec } of set[phase] ?? []) {
        const container = exec.container ?? containers[0];
        if (container === undefined) continue;
        hooks[phase].push({
          phase,
          container,
          command: exec.command,
          onError: exec.onError ?? 'Fail',
          timeoutMs: (exec.timeout !== undefined && parseGoDuration(exec.timeout)) || DEFAULT_HOOK_TIMEOUT_MS,
          from: `spec.hooks.resources[${i}] (${set.name})`,
        });
      }
    });
  }
  return hooks;
}

/** What is wrong with a Backup spec's hook sets, each naming the field and value. */
export function hookSpecProblems(sets: readonly BackupResourceHook[] = []): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  sets.forEach((set, i) => {
    const at = `hooks.resources[${i}]`;
    problems.push(...podSetProblems(set, at));
    for (const phase of ['pre', 'post'] as const)
      (set[phase] ?? []).forEach(({ exec }, j) => {
        const timeout = exec.timeout;
        if (timeout !== undefined && !((parseGoDuration(timeout) ?? 0) > 0))
          problems.push({
            field: `${at}.${phase}[${j}].exec.timeout`,
            value: timeout,
            message: 'not a positive duration (examples: 30s, 2m)',
          });
        if (exec.command.length === 0 || exec.command[0] === '')
          problems.push({
            field: `${at}.${phase}[${j}].exec.command`,
            value: JSON.stringify(exec.command),
            message: 'the command is empty',
          });
      });
  });
  return problems;
}
