// Restore hooks: read from pod annotations (Cairn's spelling and Velero's) and the Restore spec's hook
// sets, with Velero's precedence; init containers placed after the restore-wait container and before the
// pod's own; and the runner's decisions (wait, run, stop) on pod states given to it in order. The runner
// against a real pod on the testbed's node is in test/e2e/restore-hooks.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RestoreResourceHook } from '../../src/api/index.ts';
import { KubeApiError, type ExecOptions, type ExecResult, type KubeObject } from '../../src/kube/index.ts';
import {
  restoreHookSpecProblems,
  restoreHooksForPod,
  restoreHooksFromAnnotations,
  runRestoreHooks,
  withInitHooks,
  type PodRestoreHooks,
  type RestoreHookPod,
} from '../../src/restore/index.ts';
import { RESTORE_WAIT_CONTAINER } from '../../src/volumes/index.ts';

const pod = (
  annotations: Record<string, string>,
  labels: Record<string, string> = {},
  containers = ['db', 'sidecar'],
): RestoreHookPod => ({
  metadata: { namespace: 'shop', name: 'db-0', annotations, labels },
  spec: { containers: containers.map((name) => ({ name })) },
});

describe('restore hooks from pod annotations', () => {
  it("reads an exec hook with Velero's defaults: first container, Continue, 30 s, no wait limit", () => {
    const hooks = restoreHooksFromAnnotations(
      pod({ 'post.hook.restore.velero.io/command': '["/bin/sh","-c","psql < /backup/backup.sql"]' }),
    );
    assert.deepEqual(hooks, {
      init: [],
      exec: [
        {
          container: 'db',
          command: ['/bin/sh', '-c', 'psql < /backup/backup.sql'],
          onError: 'Continue',
          execTimeoutMs: 30_000,
          waitTimeoutMs: undefined,
          waitForReady: false,
          from: 'post.hook.restore.velero.io/',
        },
      ],
      problems: [],
    });
  });

  it('reads every field, and Cairn’s spelling wins over Velero’s with a problem said', () => {
    const hooks = restoreHooksFromAnnotations(
      pod({
        'post.hook.restore.cairn.dev/command': '["load.sh"]',
        'post.hook.restore.cairn.dev/container': 'sidecar',
        'post.hook.restore.cairn.dev/on-error': 'Fail',
        'post.hook.restore.cairn.dev/exec-timeout': '2m',
        'post.hook.restore.cairn.dev/wait-timeout': '5m',
        'post.hook.restore.cairn.dev/wait-for-ready': 'true',
        'post.hook.restore.velero.io/command': '["other.sh"]',
      }),
    );
    assert.deepEqual(hooks.exec, [
      {
        container: 'sidecar',
        command: ['load.sh'],
        onError: 'Fail',
        execTimeoutMs: 120_000,
        waitTimeoutMs: 300_000,
        waitForReady: true,
        from: 'post.hook.restore.cairn.dev/',
      },
    ]);
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: post.hook.restore.velero.io/command is ignored: post.hook.restore.cairn.dev/command is given too, and takes precedence',
    ]);
  });

  it('names each value it cannot read, and what applies instead', () => {
    const hooks = restoreHooksFromAnnotations(
      pod({
        'post.hook.restore.cairn.dev/command': '["load.sh"]',
        'post.hook.restore.cairn.dev/on-error': 'Stop',
        'post.hook.restore.cairn.dev/wait-timeout': 'five minutes',
        'post.hook.restore.cairn.dev/wait-for-ready': 'yes',
        'post.hook.restore.cairn.dev/timeout': '1m',
        'init.hook.restore.velero.io/command': '["restore.sh"]',
      }),
    );
    assert.equal(hooks.exec.length, 1);
    assert.equal(hooks.exec[0]?.onError, 'Continue');
    assert.equal(hooks.exec[0]?.waitTimeoutMs, undefined);
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: annotation post.hook.restore.cairn.dev/timeout is not a restore hook field (post.hook.restore.cairn.dev/command, post.hook.restore.cairn.dev/container, post.hook.restore.cairn.dev/on-error, post.hook.restore.cairn.dev/exec-timeout, post.hook.restore.cairn.dev/wait-timeout, post.hook.restore.cairn.dev/wait-for-ready)',
      'pod shop/db-0: post.hook.restore.cairn.dev/on-error "Stop": is not Continue or Fail; Continue applies',
      'pod shop/db-0: post.hook.restore.cairn.dev/wait-for-ready "yes": is not true or false; false applies',
      'pod shop/db-0: post.hook.restore.cairn.dev/wait-timeout "five minutes": is not a positive duration such as 30s or 5m; no limit applies',
      'pod shop/db-0: init.hook.restore.velero.io/command is set but init.hook.restore.velero.io/container-image is not: no init container is added',
    ]);
  });

  it('runs no exec hook in a container the pod does not have, and says so', () => {
    const hooks = restoreHooksFromAnnotations(
      pod({
        'post.hook.restore.cairn.dev/command': '["load.sh"]',
        'post.hook.restore.cairn.dev/container': 'postgres',
      }),
    );
    assert.deepEqual(hooks.exec, []);
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: post.hook.restore.cairn.dev/container "postgres": the pod has no such container (it has db, sidecar)',
    ]);
  });

  it('reads an init hook: image, name and command; an unnamed one gets a name that is the same every time', () => {
    const named = restoreHooksFromAnnotations(
      pod({
        'init.hook.restore.velero.io/container-image': 'alpine:3.22',
        'init.hook.restore.velero.io/container-name': 'restore-hook',
        'init.hook.restore.velero.io/command': '["/bin/ash","-c","date"]',
      }),
    );
    assert.deepEqual(named.init, [
      {
        container: { name: 'restore-hook', image: 'alpine:3.22', command: ['/bin/ash', '-c', 'date'] },
        timeoutMs: 600_000,
        from: 'init.hook.restore.velero.io/',
      },
    ]);
    const unnamed = () =>
      restoreHooksFromAnnotations(
        pod({
          'init.hook.restore.cairn.dev/container-image': 'busybox:1.37',
          'init.hook.restore.cairn.dev/timeout': '1m',
        }),
      ).init;
    const [first] = unnamed();
    assert.match(first?.container.name ?? '', /^cairn-restore-init-[0-9a-f]{8}$/);
    assert.equal(first?.container.command, undefined, "the image's entrypoint runs");
    assert.equal(first?.timeoutMs, 60_000);
    assert.deepEqual(unnamed(), [first]);
  });
});

describe('restore hooks from the Restore spec', () => {
  const sets: RestoreResourceHook[] = [
    {
      name: 'databases',
      includedNamespaces: ['shop'],
      labelSelector: 'app=db',
      postHooks: [
        {
          init: {
            initContainers: [
              { name: 'fix-perms', image: 'busybox:1.37', command: ['chown', '-R', '999', '/data'] },
            ],
          },
        },
        { exec: { command: ['pg_isready'], waitTimeout: '5m', execTimeout: '1m', onError: 'Fail' } },
        { exec: { container: 'sidecar', command: ['date'] } },
      ],
    },
    { name: 'elsewhere', includedNamespaces: ['other'], postHooks: [{ exec: { command: ['true'] } }] },
  ];

  it('gives a pod the hooks of every set that selects it (by its backed-up namespace and labels), in order', () => {
    const hooks = restoreHooksForPod(pod({}, { app: 'db' }), 'shop', sets);
    assert.deepEqual(
      hooks.init.map((h) => [h.container.name, h.timeoutMs, h.from]),
      [['fix-perms', 600_000, 'spec.hooks.resources[0] (databases)']],
    );
    assert.deepEqual(
      hooks.exec.map((h) => [h.container, h.command, h.onError, h.execTimeoutMs, h.waitTimeoutMs]),
      [
        ['db', ['pg_isready'], 'Fail', 60_000, 300_000],
        ['sidecar', ['date'], 'Continue', 30_000, undefined],
      ],
    );
    assert.deepEqual(restoreHooksForPod(pod({}, { app: 'web' }), 'shop', sets), {
      init: [],
      exec: [],
      problems: [],
    });
    // A pod restored into another namespace is selected by the namespace it was backed up in.
    assert.equal(restoreHooksForPod(pod({}, { app: 'db' }), 'staging', sets).exec.length, 0);
  });

  it("lets a pod's annotations win, kind by kind", () => {
    const hooks = restoreHooksForPod(
      pod({ 'post.hook.restore.cairn.dev/command': '["load.sh"]' }, { app: 'db' }),
      'shop',
      sets,
    );
    assert.deepEqual(
      hooks.exec.map((h) => h.command),
      [['load.sh']],
    );
    assert.deepEqual(
      hooks.init.map((h) => h.container.name),
      ['fix-perms'],
    );
  });

  it('leaves out, with a problem each, an exec hook for a container the pod lacks and init containers whose names clash', () => {
    const hooks = restoreHooksForPod(
      {
        metadata: { namespace: 'shop', name: 'db-0', labels: { app: 'db' } },
        spec: {
          containers: [{ name: 'db' }],
          initContainers: [
            { name: 'migrate', image: 'app:2' },
            { name: 'load', image: 'busybox:1.37' },
          ],
        } as RestoreHookPod['spec'],
      },
      'shop',
      [
        {
          name: 'a',
          postHooks: [
            { exec: { container: 'postgres', command: ['pg_isready'] } },
            {
              init: {
                initContainers: [
                  { name: 'load', image: 'busybox:1.37' },
                  { name: 'migrate', image: 'busybox:1.37' },
                  { name: 'db', image: 'busybox:1.37' },
                ],
              },
            },
          ],
        },
        { name: 'b', postHooks: [{ init: { initContainers: [{ name: 'load', image: 'other' }] } }] },
      ],
    );
    assert.deepEqual(hooks.exec, []);
    // "load" is the same hook kept from an earlier restore (same image): replaced, not doubled.
    assert.deepEqual(
      hooks.init.map((h) => h.container.name),
      ['load'],
    );
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: spec.hooks.resources[0] (a) postHooks[0].exec.container "postgres": the pod has no such container (it has db); the hook is not run there',
      'pod shop/db-0: init hook container "migrate" (spec.hooks.resources[0] (a)): the pod has its own init container of this name (image app:2); it is not added',
      'pod shop/db-0: init hook container "db" (spec.hooks.resources[0] (a)): the pod has a container of this name; it is not added',
      'pod shop/db-0: init hook container "load" (spec.hooks.resources[1] (b)): an earlier hook adds a container of this name; it is not added',
    ]);
    const annotated = restoreHooksFromAnnotations(
      pod({
        'init.hook.restore.cairn.dev/container-image': 'busybox',
        'init.hook.restore.cairn.dev/container-name': 'Bad_Name!',
      }),
    );
    assert.deepEqual(annotated.init, []);
    assert.match(annotated.problems[0] ?? '', /container-name "Bad_Name!": a container name is lower-case/);
  });

  it('names every problem of the hook sets with its field', () => {
    const problems = restoreHookSpecProblems([
      {
        name: 'bad',
        labelSelector: 'app in db',
        postHooks: [
          {},
          { exec: { command: [''], execTimeout: 'soon' } },
          {
            init: {
              initContainers: [{ name: 'Fix', image: 'busybox' }, { name: 'a' }, { name: 'a', image: 'x' }],
              timeout: '0s',
            },
          },
        ],
      },
    ]);
    assert.deepEqual(
      problems.map((p) => `${p.field} ${p.value}`),
      [
        'hooks.resources[0].labelSelector app in db',
        'hooks.resources[0].postHooks[0] ',
        'hooks.resources[0].postHooks[1].exec.command [""]',
        'hooks.resources[0].postHooks[1].exec.execTimeout soon',
        'hooks.resources[0].postHooks[2].init.timeout 0s',
        'hooks.resources[0].postHooks[2].init.initContainers[0].name Fix',
        'hooks.resources[0].postHooks[2].init.initContainers[1].image ',
        'hooks.resources[0].postHooks[2].init.initContainers[2].name a',
      ],
    );
  });
});

describe('init hooks in a restored pod', () => {
  const restored = (initContainers: { name: string }[]): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'db-0', namespace: 'shop' },
    spec: { initContainers, containers: [{ name: 'db' }] },
  });
  const hook = (name: string) => ({ container: { name, image: 'busybox' }, timeoutMs: 1000, from: 'test' });

  it("go after the restore-wait container and before the pod's own; one of the same name is replaced", () => {
    const pod = restored([{ name: RESTORE_WAIT_CONTAINER }, { name: 'migrate' }, { name: 'load' }]);
    const out = withInitHooks(pod, [hook('load'), hook('check')]);
    assert.deepEqual(
      (out.spec as { initContainers: { name: string }[] }).initContainers.map((c) => c.name),
      [RESTORE_WAIT_CONTAINER, 'load', 'check', 'migrate'],
    );
    assert.equal(
      (pod.spec as { initContainers: unknown[] }).initContainers.length,
      3,
      'the pod given is kept',
    );
    const plain = withInitHooks(restored([{ name: 'migrate' }]), [hook('load')]);
    assert.deepEqual(
      (plain.spec as { initContainers: { name: string }[] }).initContainers.map((c) => c.name),
      ['load', 'migrate'],
    );
  });
});

describe('running restore hooks', () => {
  /** A pod whose status steps through `states` (the last one stays), one per read. */
  function scripted(states: (Record<string, unknown> | 'gone')[]) {
    let read = 0;
    return (): Promise<KubeObject> => {
      const state = states[Math.min(read++, states.length - 1)];
      if (state === 'gone')
        return Promise.reject(
          new KubeApiError(
            'GET',
            '/api/v1/namespaces/shop/pods/db-0',
            404,
            'NotFound',
            'pods "db-0" not found',
          ),
        );
      return Promise.resolve({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0' }, status: state });
    };
  }
  const running = (ready = true) => ({
    phase: 'Running',
    containerStatuses: [{ name: 'db', ready, state: { running: {} } }],
  });
  const pending = {
    phase: 'Pending',
    containerStatuses: [{ name: 'db', ready: false, state: { waiting: { reason: 'PodInitializing' } } }],
  };
  const ok: ExecResult = {
    exitCode: 0,
    stdout: 'loaded\n',
    stderr: '',
    truncated: false,
    durationMs: 5,
    timedOut: false,
    failure: undefined,
  };
  const execHook = (command: string[], extra: Partial<PodRestoreHooks['exec'][number]> = {}) => ({
    container: 'db',
    command,
    onError: 'Continue' as const,
    execTimeoutMs: 30_000,
    waitTimeoutMs: undefined,
    waitForReady: false,
    from: 'test',
    ...extra,
  });
  function clock() {
    let at = 0;
    return { now: () => at, sleep: (ms: number) => Promise.resolve(void (at += ms)) };
  }

  it('waits until the container runs (or is ready), then runs each hook in order', async () => {
    const ran: ExecOptions[] = [];
    const results = await runRestoreHooks({
      pods: [
        {
          namespace: 'shop',
          name: 'db-0',
          hooks: {
            init: [],
            exec: [execHook(['load.sh']), execHook(['check.sh'], { waitForReady: true })],
            problems: [],
          },
        },
      ],
      getPod: scripted([pending, pending, running(false), running(false), running(true)]),
      exec: (options) => {
        ran.push(options);
        return Promise.resolve(ok);
      },
      log: () => undefined,
      ...clock(),
    });
    assert.deepEqual(
      ran.map((r) => r.command),
      [['load.sh'], ['check.sh']],
    );
    assert.deepEqual(
      results.map((r) => [r.phase, r.outcome, r.exitCode, r.stdout]),
      [
        ['post', 'Succeeded', 0, 'loaded\n'],
        ['post', 'Succeeded', 0, 'loaded\n'],
      ],
    );
  });

  it('fails a hook whose container does not run within its wait timeout, naming its state; Fail stops the hooks not yet started, in every pod', async () => {
    const logged: string[] = [];
    const results = await runRestoreHooks({
      pods: [
        {
          namespace: 'shop',
          name: 'db-0',
          hooks: {
            init: [],
            exec: [execHook(['load.sh'], { waitTimeoutMs: 60_000, onError: 'Fail' }), execHook(['after.sh'])],
            problems: [],
          },
        },
      ],
      getPod: scripted([
        {
          phase: 'Pending',
          containerStatuses: [{ name: 'db', state: { waiting: { reason: 'ImagePullBackOff' } } }],
        },
      ]),
      exec: () => assert.fail('nothing runs'),
      log: (message) => logged.push(message),
      reportMs: 20_000,
      ...clock(),
    });
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['Failed', 'NotRun'],
    );
    assert.equal(
      results[0]?.message,
      'exec restore hook ["load.sh"] in pod shop/db-0 container db was not run: container db is running did not happen within 60 s (db: waiting: ImagePullBackOff) (on-error Fail: no further restore hook starts)',
    );
    assert.match(
      results[1]?.message ?? '',
      /was not run: a restore hook in pod shop\/db-0 failed \(on-error Fail\)$/,
    );
    assert.ok(
      logged.some((l) =>
        /waiting 20 s so far until container db is running \(db: waiting: ImagePullBackOff\)/.test(l),
      ),
      logged.join('\n'),
    );
  });

  it('stops waiting for a pod that is gone, and records an exec that fails', async () => {
    const gone = await runRestoreHooks({
      pods: [{ namespace: 'shop', name: 'db-0', hooks: { init: [], exec: [execHook(['x'])], problems: [] } }],
      getPod: scripted([pending, 'gone']),
      exec: () => assert.fail('nothing runs'),
      log: () => undefined,
      ...clock(),
    });
    assert.match(
      gone[0]?.message ?? '',
      /was not run: the pod is gone \(deleted after it was restored\) \(on-error Continue\)$/,
    );
    const failed = await runRestoreHooks({
      pods: [
        { namespace: 'shop', name: 'db-0', hooks: { init: [], exec: [execHook(['psql'])], problems: [] } },
      ],
      getPod: scripted([running()]),
      exec: () => Promise.resolve({ ...ok, exitCode: 127, stdout: '', stderr: 'sh: psql: not found\n' }),
      log: () => undefined,
      ...clock(),
    });
    assert.equal(failed[0]?.outcome, 'Failed');
    assert.equal(
      failed[0]?.message,
      'exec restore hook ["psql"] in pod shop/db-0 container db exited with code 127 (the command was not found or cannot be run in the container): sh: psql: not found (on-error Continue)',
    );
  });

  it('does not wait for a container the pod does not have', async () => {
    const results = await runRestoreHooks({
      pods: [
        {
          namespace: 'shop',
          name: 'db-0',
          hooks: { init: [], exec: [execHook(['x'], { container: 'postgres' })], problems: [] },
        },
      ],
      getPod: () =>
        Promise.resolve({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'db-0' },
          spec: { containers: [{ name: 'db' }] },
          status: pending,
        }),
      exec: () => assert.fail('nothing runs'),
      log: () => undefined,
      ...clock(),
    });
    assert.equal(
      results[0]?.message,
      'exec restore hook ["x"] in pod shop/db-0 container postgres was not run: the pod has no container postgres (it has db) (on-error Continue)',
    );
  });

  it('fails at once the hooks of a pod that cannot start, and never throws when exec does', async () => {
    const results = await runRestoreHooks({
      pods: [
        {
          namespace: 'shop',
          name: 'db-0',
          cannotStart: "its volume data's files were not restored",
          hooks: {
            init: [{ container: { name: 'load', image: 'busybox' }, timeoutMs: 60_000, from: 'test' }],
            exec: [execHook(['x'], { onError: 'Fail' })],
            problems: [],
          },
        },
        { namespace: 'shop', name: 'web-0', hooks: { init: [], exec: [execHook(['y'])], problems: [] } },
      ],
      getPod: scripted([running()]),
      exec: () => Promise.reject(new Error('connection refused')),
      log: () => undefined,
      concurrency: 1,
      ...clock(),
    });
    assert.deepEqual(
      results.map((r) => [r.pod, r.phase, r.outcome]),
      [
        ['shop/db-0', 'init', 'Failed'],
        ['shop/db-0', 'post', 'Failed'],
        ['shop/web-0', 'post', 'NotRun'],
      ],
    );
    assert.match(
      results[1]?.message ?? '',
      /was not run: the pod cannot start: its volume data's files were not restored/,
    );
    const thrown = await runRestoreHooks({
      pods: [
        { namespace: 'shop', name: 'web-0', hooks: { init: [], exec: [execHook(['y'])], problems: [] } },
      ],
      getPod: scripted([running()]),
      exec: () => Promise.reject(new Error('connection refused')),
      log: () => undefined,
      ...clock(),
    });
    assert.match(thrown[0]?.message ?? '', /could not be run: connection refused \(on-error Continue\)$/);
  });

  it('stops a wait under way in another pod once a hook fails with on-error Fail', async () => {
    let reads = 0;
    const results = await runRestoreHooks({
      pods: [
        { namespace: 'shop', name: 'waits', hooks: { init: [], exec: [execHook(['a'])], problems: [] } },
        {
          namespace: 'shop',
          name: 'fails',
          hooks: { init: [], exec: [execHook(['b'], { onError: 'Fail' })], problems: [] },
        },
      ],
      getPod: (_ns, name) => {
        reads++;
        return Promise.resolve({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          status: name === 'waits' ? pending : running(),
        });
      },
      exec: () => Promise.resolve({ ...ok, exitCode: 1 }),
      log: () => undefined,
      ...clock(),
    });
    assert.deepEqual(
      results.map((r) => [r.pod, r.outcome]),
      [
        ['shop/waits', 'NotRun'],
        ['shop/fails', 'Failed'],
      ],
    );
    assert.ok(reads < 20, `the waiting pod stopped being read (${reads} reads)`);
  });

  it('stops following a pod that was replaced by another of the same name', async () => {
    let reads = 0;
    const results = await runRestoreHooks({
      pods: [{ namespace: 'shop', name: 'db-0', hooks: { init: [], exec: [execHook(['x'])], problems: [] } }],
      getPod: () =>
        Promise.resolve({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'db-0', uid: reads++ < 2 ? 'first' : 'second' },
          status: reads < 4 ? pending : running(),
        }),
      exec: () => assert.fail('nothing runs in the new pod'),
      log: () => undefined,
      ...clock(),
    });
    assert.match(
      results[0]?.message ?? '',
      /was not run: the restored pod was replaced by another of the same name/,
    );
  });

  it("records each init hook's exit code once it ends, and a failed one's message", async () => {
    const init = (name: string) => ({
      container: { name, image: 'busybox' },
      timeoutMs: 60_000,
      from: 'test',
    });
    const results = await runRestoreHooks({
      pods: [
        { namespace: 'shop', name: 'db-0', hooks: { init: [init('a'), init('b')], exec: [], problems: [] } },
      ],
      getPod: scripted([
        { phase: 'Pending', initContainerStatuses: [{ name: 'a', state: { running: {} } }] },
        {
          phase: 'Pending',
          initContainerStatuses: [
            { name: 'a', state: { terminated: { exitCode: 0 } } },
            {
              name: 'b',
              state: { waiting: { reason: 'CrashLoopBackOff' } },
              lastState: { terminated: { exitCode: 3, message: 'no dump found\n' } },
            },
          ],
        },
      ]),
      exec: () => assert.fail('no exec hooks'),
      log: () => undefined,
      ...clock(),
    });
    assert.deepEqual(
      results.map((r) => [r.phase, r.container, r.outcome, r.exitCode]),
      [
        ['init', 'a', 'Succeeded', 0],
        ['init', 'b', 'Failed', 3],
      ],
    );
    assert.equal(
      results[1]?.message,
      'init hook container b (image busybox) in pod shop/db-0 exited with code 3: no dump found; the pod does not start until it succeeds',
    );
  });
});
