// Restore hooks on real pods on the testbed's node, end to end: a "database" whose live data is not in the
// backed-up volume is dumped into it by a backup pre hook; the namespace is deleted; the restore brings the
// pod back with an init hook (after the restore-wait container, so it sees the restored dump) and an exec
// hook that waits for the container to be ready and loads the dump back. What the pod holds afterwards,
// and what the restore recorded, prove each step. Failing hooks are named, and on-error Fail stops the rest.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import {
  busyboxPod,
  kubectl,
  TESTBED_IMAGES,
  testbedNode,
  waitForPodLine,
  waitForPodReady,
} from '../helpers/node.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-restore-hooks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return {
    dir,
    env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') },
  };
}

async function podExec(namespace: string, pod: string, script: string): Promise<string> {
  const run = await kubectl(['exec', '-n', namespace, pod, '--', 'sh', '-c', script]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout;
}

async function deleteNamespace(namespace: string): Promise<void> {
  const result = await kubectl(['delete', 'namespace', namespace, '--wait=true', '--timeout=120s']);
  assert.equal(result.code, 0, result.stderr);
}

interface RestoreJson {
  status: {
    phase: string;
    hookStatus?: { hooksAttempted: number; hooksFailed: number };
    podVolumeRestores?: Record<string, number>;
    errors?: number;
  };
}

describe('restore hooks', () => {
  it('dump before the volume backup, then after the restore an init hook and an exec hook that waits for readiness load it back', async (t) => {
    const { dir, env } = await home(t);
    const ns = await testNamespace(t, client, 'rhooks');
    const kubeletRoot = testbedNode('a').rootDir;
    // The live data is in /store, which is not backed up. The container becomes ready 3 s after it
    // starts; the restore hook refuses to run before (test -f /tmp/ready), so it must have waited.
    const pod = busyboxPod({
      name: 'db',
      script:
        '[ -e /dump/db.sql ] || seq 1 5000 | sed s/^/row-/ > /store/data; ' +
        'sleep 3; touch /tmp/ready; echo ready; exec sleep 3600',
      volumes: { dump: { emptyDir: {} }, store: { emptyDir: {} } },
    });
    const container = (pod.spec as { containers: Record<string, unknown>[] }).containers[0] ?? {};
    container.readinessProbe = { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 };
    (pod.metadata as Record<string, unknown>).annotations = {
      'backup.cairn.dev/backup-volumes': 'dump',
      'pre.hook.backup.cairn.dev/command': '["sh","-c","cp /store/data /dump/db.sql"]',
      'post.hook.restore.cairn.dev/command':
        '["sh","-c","test -f /tmp/ready && cp /dump/db.sql /store/data && wc -l < /store/data"]',
      'post.hook.restore.cairn.dev/wait-for-ready': 'true',
      'post.hook.restore.cairn.dev/wait-timeout': '3m',
      'post.hook.restore.cairn.dev/on-error': 'Fail',
    };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'db');
    await waitForPodLine(ns, 'db', 'ready');
    const original = await podExec(ns, 'db', 'md5sum < /store/data');

    const name = `rhooks-${uniqueSuffix()}`;
    const made = await cairn(
      [
        'backup',
        'create',
        name,
        '--include-namespaces',
        ns,
        '--node-agent',
        'local',
        '--kubelet-root',
        kubeletRoot,
        '-o',
        'json',
      ],
      env,
    );
    assert.equal(made.code, 0, made.stdout + made.stderr);

    // The spec's init hook mounts the restored volume: it runs after the restore-wait container, so the
    // dump is there when it looks.
    const hooksFile = join(dir, 'restore-hooks.yaml');
    await writeFile(
      hooksFile,
      [
        'apiVersion: cairn.dev/v1',
        'kind: Restore',
        'metadata: {name: with-hooks}',
        'spec:',
        '  hooks:',
        '    resources:',
        '      - name: check-dump',
        `        includedNamespaces: [${ns}]`,
        '        postHooks:',
        '          - init:',
        '              initContainers:',
        '                - name: check-dump',
        `                  image: ${TESTBED_IMAGES.busybox}`,
        '                  imagePullPolicy: Never',
        '                  command: ["sh", "-c", "test -f /dump/db.sql && echo init-saw-dump > /dump/init-ran"]',
        '                  volumeMounts: [{name: dump, mountPath: /dump}]',
        '              timeout: 3m',
        '',
      ].join('\n'),
    );
    const restoreArgs = [
      'restore',
      'create',
      '--from-backup',
      name,
      '--node-agent',
      'local',
      '--kubelet-root',
      kubeletRoot,
      '--restore-helper-image',
      TESTBED_IMAGES.busybox,
      '--hooks',
      hooksFile,
    ];
    await deleteNamespace(ns);

    // A dry run lists the hooks that would run, and runs none.
    const planned = await cairn([...restoreArgs, '--dry-run'], env);
    assert.equal(planned.code, 0, planned.stdout + planned.stderr);
    assert.match(
      planned.stdout,
      new RegExp(
        `^Restore hooks that would run .*\\n {2}${ns}/db: init container check-dump \\(image ${TESTBED_IMAGES.busybox.replace(/[.]/g, '\\.')}; spec\\.hooks\\.resources\\[0\\] \\(check-dump\\)\\); exec \\["sh","-c","test -f /tmp/ready && cp /dump/db\\.sql /store/data && wc -l < /store/data"\\] in container main \\(on-error Fail; post\\.hook\\.restore\\.cairn\\.dev/\\)$`,
        'm',
      ),
    );

    const restoreName = `rhooks-r-${uniqueSuffix()}`;
    const restored = await cairn(
      [...restoreArgs.slice(0, 2), restoreName, ...restoreArgs.slice(2), '-o', 'json'],
      env,
    );
    assert.equal(restored.code, 0, restored.stdout + restored.stderr);
    const restore = JSON.parse(restored.stdout) as RestoreJson;
    assert.equal(restore.status.phase, 'Completed', restored.stderr);
    assert.equal(restore.status.podVolumeRestores?.completed, 1);
    assert.deepEqual(restore.status.hookStatus, { hooksAttempted: 2, hooksFailed: 0 });
    assert.match(restored.stderr, /running 2 restore hooks in 1 pods/);

    // The data is back where the database reads it, loaded by the exec hook; the init hook saw the dump.
    assert.equal(await podExec(ns, 'db', 'md5sum < /store/data'), original);
    assert.equal(await podExec(ns, 'db', 'cat /dump/init-ran'), 'init-saw-dump\n');
    const live = await client.json<{ spec: { initContainers: { name: string }[] } }>({
      path: `/api/v1/namespaces/${ns}/pods/db`,
    });
    assert.deepEqual(
      live.spec.initContainers.map((c) => c.name),
      ['cairn-restore-wait', 'check-dump'],
    );

    const described = await cairn(['restore', 'describe', restoreName, '--details'], env);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Hooks:\s+2 run, 0 failed$/m);
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/db init \\["sh","-c","test -f /dump/db.sql && echo init-saw-dump > /dump/init-ran"\\] in container check-dump: Succeeded`,
        'm',
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/db post \\["sh","-c","test -f /tmp/ready && cp /dump/db.sql /store/data && wc -l < /store/data"\\] in container main: Succeeded \\(exit code 0, \\d+ ms\\)\\n {4}stdout: 5000$`,
        'm',
      ),
    );
  });

  it('name a hook that fails and, with on-error Fail, leave the rest not run; the restore is PartiallyFailed', async (t) => {
    const { dir, env } = await home(t);
    const ns = await testNamespace(t, client, 'rhookfail');
    await client.json({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/pods`,
      body: busyboxPod({ name: 'app', script: 'echo ready; exec sleep 3600', volumes: {} }),
    });
    await waitForPodReady(client, ns, 'app');
    const name = `rhookfail-${uniqueSuffix()}`;
    const made = await cairn(['backup', 'create', name, '--include-namespaces', ns], env);
    assert.equal(made.code, 0, made.stdout + made.stderr);
    await deleteNamespace(ns);

    const hooksFile = join(dir, 'hooks.yaml');
    await writeFile(
      hooksFile,
      JSON.stringify({
        resources: [
          {
            name: 'load',
            postHooks: [
              // No such container in this pod: left out, with a warning (a set selects pods of all kinds).
              { exec: { container: 'postgres', command: ['pg_isready'] } },
              { exec: { command: ['pg_restore', '/dump'], onError: 'Fail', waitTimeout: '2m' } },
              { exec: { command: ['date'] } },
            ],
          },
        ],
      }),
    );
    const restoreName = `rhookfail-r-${uniqueSuffix()}`;
    const restored = await cairn(
      ['restore', 'create', restoreName, '--from-backup', name, '--hooks', hooksFile, '-o', 'json'],
      env,
    );
    const restore = JSON.parse(restored.stdout) as RestoreJson;
    assert.equal(restore.status.phase, 'PartiallyFailed', restored.stderr);
    assert.deepEqual(restore.status.hookStatus, { hooksAttempted: 1, hooksFailed: 1 });
    assert.equal(restore.status.errors, 1);
    await eventually('the restored pod', () => waitForPodReady(client, ns, 'app'));

    const described = await cairn(['restore', 'describe', restoreName, '--details'], env);
    assert.match(
      described.stdout,
      new RegExp(
        `pod ${ns}/app: spec\\.hooks\\.resources\\[0\\] \\(load\\) postHooks\\[0\\]\\.exec\\.container "postgres": the pod has no such container \\(it has main\\); the hook is not run there`,
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `exec restore hook \\["pg_restore","/dump"\\] in pod ${ns}/app container main could not be run: .*executable file not found.* \\(on-error Fail: no further restore hook starts\\)`,
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/app post \\["date"\\] in container main: NotRun: .*was not run: a restore hook in pod ${ns}/app failed \\(on-error Fail\\)$`,
        'm',
      ),
    );

    // A bad hook set is refused before anything is restored, naming the field.
    await writeFile(
      hooksFile,
      JSON.stringify({
        resources: [{ name: 'x', postHooks: [{ exec: { command: ['date'], waitTimeout: 'soon' } }] }],
      }),
    );
    const refused = await cairn(['restore', 'create', '--from-backup', name, '--hooks', hooksFile], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /hooks\.resources\[0\]\.postHooks\[0\]\.exec\.waitTimeout "soon"/);
  });
});
