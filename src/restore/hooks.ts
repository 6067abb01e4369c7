// Restore hooks, as Velero has them (internal/hook/ and its restore-hooks docs), in Cairn's spelling and
// Velero's:
//
// - init hooks add init containers to a restored pod, after Cairn's restore-wait container (so they see
//   the restored volume files) and before the pod's own: `init.hook.restore.cairn.dev/{container-image,
//   container-name,command,timeout}` (or `init.hook.restore.velero.io/...`), or the Restore spec's
//   `hooks.resources[].postHooks[].init.initContainers`;
// - exec hooks run a command in a restored pod's container once it runs (or is ready):
//   `post.hook.restore.cairn.dev/{command,container,on-error,exec-timeout,wait-timeout,wait-for-ready}` (or
//   Velero's), or the spec's `postHooks[].exec`.
//
// For each kind, a pod whose annotations give a hook runs that one instead of the spec's (Velero's
// precedence). Unlike backup hooks, on-error defaults to Continue (a warning); Fail makes the failure an
// error and no further restore hook starts in any pod. Cairn also watches each init hook's container end
// and records its exit code, which Velero does not.
import { createHash } from 'node:crypto';
import {
  parseGoDuration,
  parseHookCommand,
  systemClock,
  type HookResult,
  type RestoreResourceHook,
} from '../api/index.ts';
import {
  podSetProblems,
  podSetSelects,
  execFailureText,
  formatCommand,
  KubeApiError,
  type ExecOptions,
  type ExecResult,
  type KubeObject,
} from '../kube/index.ts';
import { RESTORE_WAIT_CONTAINER } from '../volumes/index.ts';
import type { RestoreProblem } from './selection.ts';

export const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
export const DEFAULT_INIT_TIMEOUT_MS = 10 * 60_000;

/** A command run in a restored pod's container once it runs. */
export interface RestoreExecHook {
  container: string;
  command: string[];
  onError: 'Continue' | 'Fail';
  execTimeoutMs: number;
  /** How long to wait for the container, from the start of the wait; undefined: no limit. */
  waitTimeoutMs: number | undefined;
  waitForReady: boolean;
  /** Where it was read from, for messages. */
  from: string;
}

/** An init container added to a restored pod. */
export interface RestoreInitHook {
  /** The container, as in a pod's spec (name and image at least). */
  container: { name: string; image?: string; command?: string[]; [field: string]: unknown };
  /** How long Cairn waits for it to end, to record its outcome. */
  timeoutMs: number;
  from: string;
}

export interface PodRestoreHooks {
  init: RestoreInitHook[];
  exec: RestoreExecHook[];
  /** What could not be read as written, each naming the annotation and value. */
  problems: string[];
}

/** What the hooks need of a pod. */
export interface RestoreHookPod {
  metadata: {
    namespace?: string | undefined;
    name?: string | undefined;
    annotations?: Record<string, string> | undefined;
    labels?: Record<string, string> | undefined;
  };
  spec?: { containers?: { name: string }[] } | undefined;
}

const EXEC_PREFIXES = ['post.hook.restore.cairn.dev/', 'post.hook.restore.velero.io/'] as const;
const INIT_PREFIXES = ['init.hook.restore.cairn.dev/', 'init.hook.restore.velero.io/'] as const;
const EXEC_FIELDS = ['command', 'container', 'on-error', 'exec-timeout', 'wait-timeout', 'wait-for-ready'];
const INIT_FIELDS = ['container-image', 'container-name', 'command', 'timeout'];

/** The restore hooks a pod's annotations ask for. */
export function restoreHooksFromAnnotations(pod: RestoreHookPod): PodRestoreHooks {
  const annotations = pod.metadata.annotations ?? {};
  const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  const result: PodRestoreHooks = { init: [], exec: [], problems: [] };

  for (const key of Object.keys(annotations).sort()) {
    for (const [prefixes, fields] of [
      [EXEC_PREFIXES, EXEC_FIELDS],
      [INIT_PREFIXES, INIT_FIELDS],
    ] as const) {
      const prefix = prefixes.find((p) => key.startsWith(p));
      if (prefix === undefined) continue;
      if (!fields.includes(key.slice(prefix.length)))
        result.problems.push(
          `pod ${podName}: annotation ${key} is not a restore hook field (${fields.map((f) => prefix + f).join(', ')})`,
        );
    }
  }
  const duration = (prefix: string, field: string, fallback: number | undefined) => {
    const text = annotations[prefix + field];
    if (text === undefined) return fallback;
    const parsed = parseGoDuration(text);
    if (parsed !== undefined && parsed > 0) return parsed;
    result.problems.push(
      `pod ${podName}: ${prefix}${field} ${JSON.stringify(text)}: is not a positive duration such as 30s or 5m; ${fallback === undefined ? 'no limit' : `${fallback / 1000}s`} applies`,
    );
    return fallback;
  };
  const chosen = (prefixes: readonly string[], key: string) => {
    const given = prefixes.filter((prefix) => annotations[prefix + key] !== undefined);
    for (const other of given.slice(1))
      result.problems.push(
        `pod ${podName}: ${other}${key} is ignored: ${given[0]}${key} is given too, and takes precedence`,
      );
    return given[0];
  };

  // The exec hook.
  const exec = chosen(EXEC_PREFIXES, 'command');
  if (exec === undefined) {
    for (const prefix of EXEC_PREFIXES)
      for (const field of EXEC_FIELDS.slice(1))
        if (annotations[prefix + field] !== undefined)
          result.problems.push(
            `pod ${podName}: ${prefix}${field} is set but ${prefix}command is not: no exec restore hook runs`,
          );
  } else {
    const value = (field: string) => annotations[exec + field];
    const problem = (field: string, text: string) =>
      result.problems.push(`pod ${podName}: ${exec}${field} ${JSON.stringify(value(field))}: ${text}`);
    const command = parseHookCommand(value('command') ?? '');
    let container = value('container');
    let usable = true;
    if (typeof command === 'string') {
      problem('command', command);
      usable = false;
    }
    if (container === undefined || container === '') {
      container = containers[0];
      if (container === undefined) {
        result.problems.push(`pod ${podName}: the pod has no containers to run its exec restore hook in`);
        usable = false;
      }
    } else if (containers.length > 0 && !containers.includes(container)) {
      problem('container', `the pod has no such container (it has ${containers.join(', ')})`);
      usable = false;
    }
    let onError: 'Continue' | 'Fail' = 'Continue';
    const onErrorText = value('on-error');
    if (onErrorText === 'Continue' || onErrorText === 'Fail') onError = onErrorText;
    else if (onErrorText !== undefined) problem('on-error', 'is not Continue or Fail; Continue applies');
    let waitForReady = false;
    const readyText = value('wait-for-ready');
    if (readyText === 'true' || readyText === 'false') waitForReady = readyText === 'true';
    else if (readyText !== undefined) problem('wait-for-ready', 'is not true or false; false applies');
    if (usable && typeof command !== 'string' && container !== undefined)
      result.exec.push({
        container,
        command,
        onError,
        execTimeoutMs: duration(exec, 'exec-timeout', DEFAULT_EXEC_TIMEOUT_MS) ?? DEFAULT_EXEC_TIMEOUT_MS,
        waitTimeoutMs: duration(exec, 'wait-timeout', undefined),
        waitForReady,
        from: exec,
      });
  }

  // The init hook: an image makes it (as Velero reads it); a command is optional (the image's entrypoint).
  const init = chosen(INIT_PREFIXES, 'container-image');
  if (init === undefined) {
    for (const prefix of INIT_PREFIXES)
      for (const field of INIT_FIELDS.filter((f) => f !== 'container-image'))
        if (annotations[prefix + field] !== undefined)
          result.problems.push(
            `pod ${podName}: ${prefix}${field} is set but ${prefix}container-image is not: no init container is added`,
          );
  } else {
    const image = annotations[`${init}container-image`] ?? '';
    const commandText = annotations[`${init}command`];
    const command = commandText === undefined ? undefined : parseHookCommand(commandText);
    if (typeof command === 'string') {
      result.problems.push(`pod ${podName}: ${init}command ${JSON.stringify(commandText)}: ${command}`);
    } else if (image.trim() === '') {
      result.problems.push(`pod ${podName}: ${init}container-image is empty: no init container is added`);
    } else {
      // Velero names an unnamed one with a random uuid; a name from its image and command is the same on
      // every restore of the pod, so a pod restored twice does not collect init containers.
      const name =
        annotations[`${init}container-name`] ||
        `cairn-restore-init-${createHash('sha256')
          .update(JSON.stringify([image, command ?? []]))
          .digest('hex')
          .slice(0, 8)}`;
      const nameProblem = initNameProblem(name);
      if (nameProblem) {
        result.problems.push(
          `pod ${podName}: ${init}container-name ${JSON.stringify(name)}: ${nameProblem}: no init container is added`,
        );
        return result;
      }
      result.init.push({
        container: { name, image, ...(command ? { command } : {}) },
        timeoutMs: duration(init, 'timeout', DEFAULT_INIT_TIMEOUT_MS) ?? DEFAULT_INIT_TIMEOUT_MS,
        from: init,
      });
    }
  }
  return result;
}

const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Why a name cannot be an init hook container's, or undefined. */
function initNameProblem(name: string): string | undefined {
  if (!CONTAINER_NAME.test(name))
    return 'a container name is lower-case letters, digits and -, at most 63, starting and ending alphanumeric';
  if (name === RESTORE_WAIT_CONTAINER) return `${RESTORE_WAIT_CONTAINER} is Cairn's own init container`;
  return undefined;
}

/**
 * A pod's restore hooks: for each kind (init, exec), those its annotations give, or else those of every
 * hook set of the Restore spec that selects it, in order. `sourceNamespace` is the pod's namespace in the
 * backup, which the sets' namespaces name.
 */
export function restoreHooksForPod(
  pod: RestoreHookPod,
  sourceNamespace: string,
  sets: readonly RestoreResourceHook[] = [],
): PodRestoreHooks {
  const hooks = restoreHooksFromAnnotations(pod);
  const annotations = pod.metadata.annotations ?? {};
  const annotated = (prefixes: readonly string[], field: string) =>
    prefixes.some((prefix) => annotations[prefix + field] !== undefined);
  const execAnnotated = annotated(EXEC_PREFIXES, 'command');
  const initAnnotated = annotated(INIT_PREFIXES, 'container-image');
  const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  const first = containers[0];
  sets.forEach((set, i) => {
    if (!podSetSelects(set, sourceNamespace, pod.metadata.labels)) return;
    const from = `spec.hooks.resources[${i}] (${set.name})`;
    for (const [j, hook] of (set.postHooks ?? []).entries()) {
      if (hook.exec && !execAnnotated) {
        const container = hook.exec.container ?? first;
        if (container === undefined) continue;
        if (containers.length > 0 && !containers.includes(container)) {
          // As Velero does: a set selects whole namespaces, and not every pod has every container.
          hooks.problems.push(
            `pod ${podName}: ${from} postHooks[${j}].exec.container "${container}": the pod has no such container (it has ${containers.join(', ')}); the hook is not run there`,
          );
          continue;
        }
        hooks.exec.push({
          container,
          command: hook.exec.command,
          onError: hook.exec.onError ?? 'Continue',
          execTimeoutMs:
            (hook.exec.execTimeout !== undefined && parseGoDuration(hook.exec.execTimeout)) ||
            DEFAULT_EXEC_TIMEOUT_MS,
          waitTimeoutMs:
            (hook.exec.waitTimeout !== undefined && parseGoDuration(hook.exec.waitTimeout)) || undefined,
          waitForReady: hook.exec.waitForReady === true,
          from,
        });
      }
      if (hook.init && !initAnnotated) {
        const timeoutMs =
          (hook.init.timeout !== undefined && parseGoDuration(hook.init.timeout)) || DEFAULT_INIT_TIMEOUT_MS;
        for (const container of hook.init.initContainers)
          hooks.init.push({ container: container as RestoreInitHook['container'], timeoutMs, from });
      }
    }
  });
  // One init container of a name: the first hook that gives it (two sets may add the same one).
  const seen = new Set<string>();
  const ownInit = new Map(
    (
      (pod.spec as { initContainers?: { name: string; image?: string }[] } | undefined)?.initContainers ?? []
    ).map((c) => [c.name, c.image]),
  );
  hooks.init = hooks.init.filter((hook) => {
    const { name, image } = hook.container;
    const problem = (text: string) => {
      hooks.problems.push(
        `pod ${podName}: init hook container ${JSON.stringify(name)} (${hook.from}): ${text}; it is not added`,
      );
      return false;
    };
    if (seen.has(name)) return problem('an earlier hook adds a container of this name');
    seen.add(name);
    if (containers.includes(name)) return problem('the pod has a container of this name');
    // The pod's own init container of this name: the same hook, kept from an earlier restore (replaced),
    // or another container (the hook is left out rather than replace it).
    if (ownInit.has(name) && ownInit.get(name) !== image)
      return problem(`the pod has its own init container of this name (image ${ownInit.get(name) ?? '?'})`);
    return true;
  });
  return hooks;
}

/** What is wrong with a Restore spec's hook sets, each naming the field and value. */
export function restoreHookSpecProblems(sets: readonly RestoreResourceHook[] = []): RestoreProblem[] {
  const problems: RestoreProblem[] = [];
  const duration = (field: string, value: string | undefined) => {
    if (value !== undefined && !((parseGoDuration(value) ?? 0) > 0))
      problems.push({ field, value, message: 'not a positive duration (examples: 30s, 5m)' });
  };
  sets.forEach((set, i) => {
    const at = `hooks.resources[${i}]`;
    problems.push(...podSetProblems(set, at));
    const names = new Set<string>();
    (set.postHooks ?? []).forEach((hook, j) => {
      const here = `${at}.postHooks[${j}]`;
      if ((hook.exec === undefined) === (hook.init === undefined))
        problems.push({ field: here, value: '', message: 'give exactly one of exec and init' });
      if (hook.exec) {
        if (hook.exec.command.length === 0 || hook.exec.command[0] === '')
          problems.push({
            field: `${here}.exec.command`,
            value: JSON.stringify(hook.exec.command),
            message: 'the command is empty',
          });
        duration(`${here}.exec.execTimeout`, hook.exec.execTimeout);
        duration(`${here}.exec.waitTimeout`, hook.exec.waitTimeout);
      }
      if (hook.init) {
        duration(`${here}.init.timeout`, hook.init.timeout);
        hook.init.initContainers.forEach((container, k) => {
          const field = `${here}.init.initContainers[${k}]`;
          const { name, image, command } = container as {
            name?: unknown;
            image?: unknown;
            command?: unknown;
          };
          if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
            problems.push({
              field: `${field}.name`,
              value: typeof name === 'string' || name === undefined ? (name ?? '') : JSON.stringify(name),
              message: 'a container needs a name: lower-case letters, digits and -, at most 63',
            });
          else if (name === RESTORE_WAIT_CONTAINER)
            problems.push({
              field: `${field}.name`,
              value: name,
              message: "Cairn's own init container has this name",
            });
          else if (names.has(name))
            problems.push({
              field: `${field}.name`,
              value: name,
              message: 'two init containers of this name',
            });
          else names.add(name);
          if (typeof image !== 'string' || image.trim() === '')
            problems.push({
              field: `${field}.image`,
              value: typeof image === 'string' || image === undefined ? (image ?? '') : JSON.stringify(image),
              message: 'an image is needed',
            });
          if (
            command !== undefined &&
            !(Array.isArray(command) && command.every((c) => typeof c === 'string'))
          )
            problems.push({
              field: `${field}.command`,
              value: JSON.stringify(command),
              message: 'a list of strings',
            });
        });
      }
    });
  });
  return problems;
}

/**
 * The pod with its init hooks' containers added after the restore-wait container (when it has one) and
 * before its own init containers (a copy). An init container of the same name already there (a pod that
 * was itself restored with the hook) is replaced.
 */
export function withInitHooks(pod: KubeObject, hooks: readonly RestoreInitHook[]): KubeObject {
  if (hooks.length === 0) return pod;
  const spec = structuredClone((pod.spec ?? {}) as { initContainers?: { name: string }[] });
  const added = hooks.map((h) => structuredClone(h.container));
  const names = new Set(added.map((c) => c.name));
  const existing = (spec.initContainers ?? []).filter((c) => !names.has(c.name));
  const wait = existing.filter((c) => c.name === RESTORE_WAIT_CONTAINER);
  const own = existing.filter((c) => c.name !== RESTORE_WAIT_CONTAINER);
  spec.initContainers = [...wait, ...added, ...own];
  return { ...pod, spec };
}

/** A one-line account of a pod's restore hooks, for the log and a dry run's plan. */
export function describeRestoreHooks(hooks: PodRestoreHooks): string {
  const parts = [
    ...hooks.init.map(
      (h) => `init container ${h.container.name} (image ${h.container.image ?? '?'}; ${h.from})`,
    ),
    ...hooks.exec.map(
      (h) =>
        `exec ${formatCommand(h.command)} in container ${h.container} (on-error ${h.onError}; ${h.from})`,
    ),
  ];
  return parts.join('; ');
}

interface ContainerStatus {
  name: string;
  ready?: boolean;
  state?: ContainerState;
  lastState?: ContainerState;
}
interface ContainerState {
  running?: object;
  waiting?: { reason?: string; message?: string };
  terminated?: { exitCode?: number; reason?: string; message?: string };
}
interface PodSpecPart {
  containers?: { name: string }[];
}
interface PodStatus {
  phase?: string;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
}

/** How a container stands, for messages: "waiting: ImagePullBackOff", "terminated with exit code 1". */
function stateText(status: ContainerStatus | undefined): string {
  if (!status?.state) return 'not started';
  const { running, waiting, terminated } = status.state;
  if (running) return status.ready ? 'running and ready' : 'running, not ready';
  if (waiting) return `waiting${waiting.reason ? `: ${waiting.reason}` : ''}`;
  if (terminated) return `terminated with exit code ${terminated.exitCode ?? '?'}`;
  return 'not started';
}

export interface RestoreHookRun {
  /**
   * The pods, and for one known not to start (its volume files were not restored, so its restore-wait
   * container never ends), why: its hooks fail at once instead of waiting.
   */
  pods: { namespace: string; name: string; hooks: PodRestoreHooks; cannotStart?: string | undefined }[];
  getPod: (namespace: string, name: string, signal?: AbortSignal) => Promise<KubeObject>;
  exec: (options: ExecOptions) => Promise<ExecResult>;
  log: (message: string, level: 'info' | 'warning' | 'error', namespace: string) => void;
  signal?: AbortSignal | undefined;
  /** Pods whose hooks run at once. Default 8. */
  concurrency?: number | undefined;
  /** How often a waiting pod is looked at. Default 1 s. */
  pollMs?: number | undefined;
  /** How often a wait is reported in the log. Default 30 s. */
  reportMs?: number | undefined;
  now?: (() => number) | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

/**
 * Runs the restored pods' hooks, pods side by side: for each pod, waits for its init hooks' containers to
 * end (recording each exit code), then runs its exec hooks in order, each once its container runs (or is
 * ready). A pod's state is read every second (a GET: one pod's status is all it needs, and a poll has no
 * watch to re-establish). Never throws: every hook has an outcome. A failed exec hook with on-error Fail
 * stops every hook not yet started (NotRun), as Velero does.
 */
export async function runRestoreHooks(run: RestoreHookRun): Promise<HookResult[]> {
  const now = run.now ?? (() => systemClock.now());
  // The machine's sleep ends early, without an error, when the restore is stopped: the wait loop then
  // says so.
  const sleep = run.sleep ?? ((ms: number, signal?: AbortSignal) => systemClock.sleep(ms, signal));
  const pollMs = run.pollMs ?? 1000;
  const reportMs = run.reportMs ?? 30_000;
  let stopped: string | undefined;
  const byPod = new Map<string, HookResult[]>();

  const onePod = async (pod: RestoreHookRun['pods'][number]): Promise<HookResult[]> => {
    const podName = `${pod.namespace}/${pod.name}`;
    const results: HookResult[] = [];
    const started = now();
    let lastReport = started;
    // Init hooks are watched whatever other pods' hooks do (they run in the pod anyway).
    let watchingInit = false;
    // The pod as first seen: one of the same name made later (a StatefulSet's) is not the restored one.
    let uid: string | undefined;
    let cannotStart = pod.cannotStart;
    /** Reads the pod until `check` says done (true) or why it never will be (a string), or the deadline. */
    const waitFor = async (
      check: (status: PodStatus, spec: PodSpecPart) => true | string | undefined,
      deadline: number | undefined,
      what: string,
      describe: (status: PodStatus) => string,
    ): Promise<{ ok: true } | { ok: false; why: string; notRun?: true }> => {
      let status: PodStatus = {};
      let spec: PodSpecPart = {};
      for (;;) {
        if (run.signal?.aborted) return { ok: false, why: 'the restore was stopped', notRun: true };
        // Another pod's hook failed with on-error Fail: no hook starts after it, a waiting one included.
        if (stopped !== undefined && !watchingInit) return { ok: false, why: stopped, notRun: true };
        try {
          const live = await run.getPod(pod.namespace, pod.name, run.signal);
          uid ??= live.metadata.uid;
          if (live.metadata.uid !== undefined && live.metadata.uid !== uid)
            return { ok: false, why: 'the restored pod was replaced by another of the same name' };
          status = live.status ?? {};
          spec = live.spec ?? {};
        } catch (error) {
          if (error instanceof KubeApiError && error.status === 404)
            return { ok: false, why: 'the pod is gone (deleted after it was restored)' };
          if (error instanceof KubeApiError && (error.status === 401 || error.status === 403))
            return { ok: false, why: `the pod cannot be read: ${error.message}` };
          if (run.signal?.aborted) return { ok: false, why: 'the restore was stopped' };
          // Anything else (the API server restarting): look again at the next tick.
        }
        const said = check(status, spec);
        if (said === true) return { ok: true };
        if (typeof said === 'string') return { ok: false, why: said };
        if (status.phase === 'Failed' || status.phase === 'Succeeded')
          return { ok: false, why: `the pod ended (phase ${status.phase}) before ${what}` };
        const at = now();
        if (deadline !== undefined && at >= deadline)
          return {
            ok: false,
            why: `${what} did not happen within ${Math.round((deadline - started) / 1000)} s (${describe(status)})`,
          };
        if (at - lastReport >= reportMs) {
          lastReport = at;
          run.log(
            `pod ${podName}: waiting ${Math.round((at - started) / 1000)} s so far until ${what} (${describe(status)})`,
            'info',
            pod.namespace,
          );
        }
        await sleep(pollMs, run.signal);
      }
    };

    // Init hooks: watched to their end.
    if (pod.hooks.init.length > 0 && cannotStart !== undefined) {
      for (const hook of pod.hooks.init)
        results.push({
          pod: podName,
          phase: 'init',
          container: hook.container.name,
          command: hook.container.command ?? [],
          onError: 'Continue',
          outcome: 'Failed',
          message: `init hook container ${hook.container.name} in pod ${podName} does not run: ${cannotStart}`,
        });
    } else if (pod.hooks.init.length > 0) {
      const names = pod.hooks.init.map((h) => h.container.name);
      const deadline = started + Math.max(...pod.hooks.init.map((h) => h.timeoutMs));
      const statusOf = (status: PodStatus, name: string) =>
        (status.initContainerStatuses ?? []).find((c) => c.name === name);
      const ended = (c: ContainerStatus | undefined) =>
        c?.state?.terminated ??
        (c?.lastState?.terminated && c.lastState.terminated.exitCode !== 0
          ? c.lastState.terminated
          : undefined);
      let last: PodStatus = {};
      watchingInit = true;
      const watched = await waitFor(
        (status) => {
          last = status;
          return names.every((n) => ended(statusOf(status, n)) !== undefined) ||
            names.some((n) => (ended(statusOf(status, n))?.exitCode ?? 0) !== 0)
            ? true
            : undefined;
        },
        deadline,
        `its init hook containers end`,
        (status) => names.map((n) => `${n}: ${stateText(statusOf(status, n))}`).join(', '),
      );
      watchingInit = false;
      for (const hook of pod.hooks.init) {
        const name = hook.container.name;
        const end = ended(statusOf(last, name));
        const base = {
          pod: podName,
          phase: 'init' as const,
          container: name,
          command: hook.container.command ?? [],
          onError: 'Continue' as const,
        };
        const what = `init hook container ${name} (image ${hook.container.image ?? '?'}) in pod ${podName}`;
        if (end?.exitCode === 0) results.push({ ...base, outcome: 'Succeeded', exitCode: 0 });
        else if (end) {
          cannotStart ??= `its init hook container ${name} exited with code ${end.exitCode ?? '?'}`;
          results.push({
            ...base,
            outcome: 'Failed',
            exitCode: end.exitCode,
            message: `${what} exited with code ${end.exitCode ?? '?'}${end.message ? `: ${end.message.trim()}` : end.reason ? ` (${end.reason})` : ''}; the pod does not start until it succeeds`,
          });
        } else
          results.push({
            ...base,
            outcome: 'Failed',
            message:
              !watched.ok && !watched.why.includes('did not happen within')
                ? `${what}: its end was not seen: ${watched.why}`
                : `${what} did not end within ${Math.round(hook.timeoutMs / 1000)} s (${stateText(statusOf(last, name))}); Cairn stopped watching, the pod goes on`,
          });
      }
    }

    // Exec hooks, in order, each once its container runs.
    for (const hook of pod.hooks.exec) {
      const base = {
        pod: podName,
        phase: 'post' as const,
        container: hook.container,
        command: hook.command,
        onError: hook.onError,
      };
      const what = `exec restore hook ${formatCommand(hook.command)} in pod ${podName} container ${hook.container}`;
      if (stopped !== undefined || run.signal?.aborted) {
        results.push({
          ...base,
          outcome: 'NotRun',
          message: `${what} was not run: ${stopped ?? 'the restore was stopped'}`,
        });
        continue;
      }
      const containerOf = (status: PodStatus) =>
        (status.containerStatuses ?? []).find((c) => c.name === hook.container);
      const waited: Awaited<ReturnType<typeof waitFor>> =
        cannotStart !== undefined
          ? { ok: false, why: `the pod cannot start: ${cannotStart}` }
          : await waitFor(
              (status, spec) => {
                const c = containerOf(status);
                if (c?.state?.running && (!hook.waitForReady || c.ready === true)) return true;
                // A container the pod does not have never runs: no wait, however long it may be.
                const names = (spec.containers ?? []).map((n) => n.name);
                if (names.length > 0 && !names.includes(hook.container))
                  return `the pod has no container ${hook.container} (it has ${names.join(', ')})`;
                return undefined;
              },
              hook.waitTimeoutMs === undefined ? undefined : started + hook.waitTimeoutMs,
              `container ${hook.container} is ${hook.waitForReady ? 'ready' : 'running'}`,
              (status) => `${hook.container}: ${stateText(containerOf(status))}`,
            );
      const rule =
        hook.onError === 'Fail' ? 'on-error Fail: no further restore hook starts' : 'on-error Continue';
      if (!waited.ok && waited.notRun) {
        results.push({ ...base, outcome: 'NotRun', message: `${what} was not run: ${waited.why}` });
        continue;
      }
      if (!waited.ok) {
        const result: HookResult = {
          ...base,
          outcome: 'Failed',
          message: `${what} was not run: ${waited.why} (${rule})`,
        };
        results.push(result);
        if (hook.onError === 'Fail') stopped ??= `a restore hook in pod ${podName} failed (on-error Fail)`;
        continue;
      }
      let ran: ExecResult;
      try {
        ran = await run.exec({
          namespace: pod.namespace,
          pod: pod.name,
          container: hook.container,
          command: hook.command,
          timeoutMs: hook.execTimeoutMs,
          signal: run.signal,
        });
      } catch (error) {
        ran = {
          exitCode: undefined,
          stdout: '',
          stderr: '',
          truncated: false,
          durationMs: 0,
          timedOut: false,
          failure: (error as Error).message,
        };
      }
      const output = {
        exitCode: ran.exitCode,
        durationMs: ran.durationMs,
        ...(ran.stdout !== '' && { stdout: ran.stdout }),
        ...(ran.stderr !== '' && { stderr: ran.stderr }),
      };
      const why = execFailureText(ran, hook.execTimeoutMs);
      if (why === undefined) {
        results.push({ ...base, outcome: 'Succeeded', ...output });
        continue;
      }
      const result: HookResult = {
        ...base,
        outcome: 'Failed',
        ...output,
        message: `${what} ${why} (${rule})`,
      };
      results.push(result);
      if (hook.onError === 'Fail') stopped ??= `a restore hook in pod ${podName} failed (on-error Fail)`;
    }
    return results;
  };

  const queue = [...run.pods];
  const workers = Array.from({ length: Math.min(run.concurrency ?? 8, queue.length) }, async () => {
    for (let pod = queue.shift(); pod !== undefined; pod = queue.shift())
      byPod.set(`${pod.namespace}/${pod.name}`, await onePod(pod));
  });
  await Promise.all(workers);
  // In the order the pods were given, each pod's hooks in the order run.
  return run.pods.flatMap((p) => byPod.get(`${p.namespace}/${p.name}`) ?? []);
}
