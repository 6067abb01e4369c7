// Backup hooks on real pods on the testbed's node: `cairn backup create --node-agent local` runs each
// pod's pre hooks, backs up its volumes, then runs its post hooks, through pods/exec. What the hooks write
// into the volume proves the order: a pre hook's file is in the volume's snapshot, a post hook's is not
// (it came after) but is in the volume.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { KubeClient } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import { busyboxPod, kubectl, testbedNode, waitForPodLine, waitForPodReady } from '../helpers/node.ts';
import { clusterClient, eventually, testNamespace, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
before(() => {
  client = clusterClient('a');
});

async function home(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-hooks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
}

/** A busybox pod with an emptyDir at /data, annotated, its file-system backup asked for. */
async function hookedPod(namespace: string, name: string, annotations: Record<string, string>) {
  const pod = busyboxPod({
    name,
    script: 'echo ready; exec sleep 3600',
    volumes: { data: { emptyDir: {} } },
  });
  (pod.metadata as Record<string, unknown>).annotations = {
    'backup.cairn.dev/backup-volumes': 'data',
    ...annotations,
  };
  await client.json({ method: 'POST', path: `/api/v1/namespaces/${namespace}/pods`, body: pod });
  await waitForPodReady(client, namespace, name);
  await waitForPodLine(namespace, name, 'ready');
}

interface BackupJson {
  status: {
    phase: string;
    hookStatus?: { hooksAttempted: number; hooksFailed: number };
    podVolumeBackups?: Record<string, number>;
  };
}

async function backup(env: NodeJS.ProcessEnv, name: string, namespace: string, extra: string[] = []) {
  const result = await cairn(
    [
      'backup',
      'create',
      name,
      '--include-namespaces',
      namespace,
      '--node-agent',
      'local',
      '--kubelet-root',
      testbedNode('a').rootDir,
      ...extra,
      '-o',
      'json',
    ],
    env,
  );
  assert.ok(result.stdout.startsWith('{'), result.stdout + result.stderr);
  return { ...result, backup: JSON.parse(result.stdout) as BackupJson };
}

async function podFile(namespace: string, pod: string, path: string): Promise<string | undefined> {
  const read = await kubectl(['exec', '-n', namespace, pod, '--', 'cat', path]);
  return read.code === 0 ? read.stdout : undefined;
}

describe('backup hooks', () => {
  it('run pre hooks before the volume is read and post hooks after it, Cairn’s and Velero’s spellings', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'hooks');
    await hookedPod(ns, 'db', {
      'pre.hook.backup.cairn.dev/command': '["sh","-c","echo dumped > /data/dump.sql; echo pre done"]',
      'pre.hook.backup.cairn.dev/container': 'main',
      'post.hook.backup.velero.io/command': '["sh","-c","echo thawed > /data/after-backup"]',
      'post.hook.backup.velero.io/timeout': '10s',
    });
    const name = `hooks-${uniqueSuffix()}`;
    const made = await backup(env, name, ns);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.backup.status.phase, 'Completed', made.stderr);
    assert.deepEqual(made.backup.status.hookStatus, { hooksAttempted: 2, hooksFailed: 0 });
    assert.equal(made.backup.status.podVolumeBackups?.completed, 1);

    // The pre hook's file is in the snapshot; the post hook's is not (it ran after the volume was read).
    const listed = await cairn(['volume', 'ls', name, `${ns}/db/data`], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /\sdump\.sql$/m);
    assert.doesNotMatch(listed.stdout, /after-backup/);
    assert.equal(await podFile(ns, 'db', '/data/after-backup'), 'thawed\n');

    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Hooks \(--details lists each\):\n {2}Attempted:\s+2\n {2}Failed:\s+0$/m);
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/db pre \\["sh","-c","echo dumped > /data/dump.sql; echo pre done"\\] in container main: Succeeded \\(exit code 0, \\d+ ms\\)\\n {4}stdout: pre done$`,
        'm',
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}${ns}/db post \\["sh","-c","echo thawed > /data/after-backup"\\] in container main: Succeeded`,
        'm',
      ),
    );
  });

  it('fail a pod’s volume when its pre hook fails (on-error Fail) and still run its post hook; name what failed and why', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'hookfail');
    // Fails: the default on-error is Fail, so the volume is left out; the post hook runs all the same.
    await hookedPod(ns, 'frozen', {
      'pre.hook.backup.cairn.dev/command': '["sh","-c","echo cannot freeze >&2; exit 2"]',
      'post.hook.backup.cairn.dev/command': '["sh","-c","echo thawed > /data/thawed"]',
    });
    // Not there, timed out: both on-error Continue, so their volumes are backed up anyway.
    await hookedPod(ns, 'missing', {
      'pre.hook.backup.cairn.dev/command': '["pg_dump","shop"]',
      'pre.hook.backup.cairn.dev/on-error': 'Continue',
    });
    await hookedPod(ns, 'slow', {
      'pre.hook.backup.cairn.dev/command': '["sleep","30"]',
      'pre.hook.backup.cairn.dev/timeout': '1s',
      'pre.hook.backup.cairn.dev/on-error': 'Continue',
    });
    const name = `hookfail-${uniqueSuffix()}`;
    const made = await backup(env, name, ns);
    assert.equal(made.backup.status.phase, 'PartiallyFailed', made.stderr);
    assert.deepEqual(made.backup.status.hookStatus, { hooksAttempted: 4, hooksFailed: 3 });
    assert.equal(made.backup.status.podVolumeBackups?.completed, 2);
    assert.equal(made.backup.status.podVolumeBackups?.failed, 1);
    assert.equal(await podFile(ns, 'frozen', '/data/thawed'), 'thawed\n');

    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.match(
      described.stdout,
      new RegExp(
        `pre hook \\["sh","-c","echo cannot freeze >&2; exit 2"\\] in pod ${ns}/frozen container main exited with code 2: cannot freeze \\(on-error Fail: the pod's volumes are not backed up`,
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `${ns}/frozen/data: Failed: not backed up: its pod's pre hook failed: pre hook \\["sh","-c","echo cannot freeze`,
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `pre hook \\["pg_dump","shop"\\] in pod ${ns}/missing container main could not be run: .*executable file not found.* \\(on-error Continue\\)`,
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(
        `pre hook \\["sleep","30"\\] in pod ${ns}/slow container main did not end within 1 s \\(the connection was closed; the command may still be running in the container\\) \\(on-error Continue\\)`,
      ),
    );
    assert.match(described.stdout, new RegExp(`${ns}/missing/data: Completed`));
    assert.match(described.stdout, new RegExp(`${ns}/slow/data: Completed`));
  });

  it('run post hooks after a volume backup that failed, and leave out those of a pod that is not running', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'hookafter');
    await hookedPod(ns, 'app', {
      'post.hook.backup.cairn.dev/command': '["sh","-c","date > /data/post-ran"]',
    });
    // A finished pod (a Job's, say): no container to run its hook in.
    const finished = busyboxPod({ name: 'finished', script: 'exit 0', volumes: {} });
    Object.assign(finished.spec as Record<string, unknown>, { restartPolicy: 'Never' });
    Object.assign(finished.metadata as Record<string, unknown>, {
      annotations: { 'pre.hook.backup.cairn.dev/command': '["sync"]' },
    });
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: finished });
    await eventually('the pod to finish', async () => {
      const pod = await client.json<{ status?: { phase?: string } }>({
        path: `/api/v1/namespaces/${ns}/pods/finished`,
      });
      return pod.status?.phase === 'Succeeded' ? true : undefined;
    });
    // A timeout no volume backup can meet: the volume fails, the post hook runs.
    const name = `hookafter-${uniqueSuffix()}`;
    const made = await backup(env, name, ns, ['--fs-backup-timeout', '1ms']);
    assert.equal(made.backup.status.phase, 'PartiallyFailed', made.stderr);
    assert.equal(made.backup.status.podVolumeBackups?.failed, 1);
    assert.deepEqual(made.backup.status.hookStatus, { hooksAttempted: 1, hooksFailed: 0 });
    assert.ok((await podFile(ns, 'app', '/data/post-ran')) !== undefined, 'the post hook ran');
    const described = await cairn(['backup', 'describe', name], env);
    assert.match(described.stdout, /pod finished is Succeeded: its 1 backup hooks were not run/);
  });

  it('with --dry-run, list the hooks and volumes of the selected pods, name each annotation that would not run, and back up nothing', async (t) => {
    const env = await home(t);
    const ns = await testNamespace(t, client, 'hookplan');
    await hookedPod(ns, 'db', {
      'pre.hook.backup.cairn.dev/command': '["sh","-c","pg_dump > /data/dump.sql"]',
      'post.hook.backup.cairn.dev/comand': '["rm","/data/dump.sql"]',
    });
    const labelled = busyboxPod({ name: 'web', script: 'exec sleep 3600', volumes: {} });
    Object.assign(labelled.metadata as Record<string, unknown>, { labels: { app: 'web' } });
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: labelled });
    await waitForPodReady(client, ns, 'web');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-hookplan-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const hooksFile = join(dir, 'hooks.yaml');
    await writeFile(
      hooksFile,
      'resources:\n  - name: web-sync\n    labelSelector: app=web\n    pre:\n      - exec: {command: [sync], timeout: 1m}\n',
    );
    const name = `hookplan-${uniqueSuffix()}`;
    const args = ['backup', 'create', name, '--include-namespaces', ns, '--node-agent', 'local'];
    const planned = await cairn([...args, '--hooks', hooksFile, '--dry-run'], env);
    assert.equal(planned.code, 1, 'a problem makes the exit code 1: ' + planned.stdout + planned.stderr);
    assert.match(
      planned.stdout,
      /^Dry run: nothing was backed up\. Of the 2 pods the backup selects, 2 have hooks or volumes:$/m,
    );
    assert.match(
      planned.stdout,
      new RegExp(
        `^${ns}/db \\(Running\\):\\n {2}pre in container main: \\["sh","-c","pg_dump > /data/dump.sql"\\] \\(on-error Fail, timeout 30 s; from pre\\.hook\\.backup\\.cairn\\.dev/\\)\\n {2}volume data: fs-backup, chosen by the pod annotation backup\\.cairn\\.dev/backup-volumes\\n`,
        'm',
      ),
    );
    assert.match(
      planned.stdout,
      new RegExp(
        `^ {2}problem: pod ${ns}/db: annotation post\\.hook\\.backup\\.cairn\\.dev/comand is not a hook field`,
        'm',
      ),
    );
    assert.match(
      planned.stdout,
      new RegExp(
        `^${ns}/web \\(Running\\):\\n {2}pre in container main: \\["sync"\\] \\(on-error Fail, timeout 60 s; from spec\\.hooks\\.resources\\[0\\] \\(web-sync\\)\\)$`,
        'm',
      ),
    );
    assert.match(planned.stdout, /^2 hooks would run, 1 volumes would be backed up; 1 problems\.$/m);
    // Nothing ran and nothing was written.
    assert.equal(await podFile(ns, 'db', '/data/dump.sql'), undefined);
    const got = await cairn(['backup', 'get', name], env);
    assert.notEqual(got.code, 0, got.stdout);
    // -o json gives the same plan as data.
    const json = await cairn([...args, '--dry-run', '-o', 'json'], env);
    const plan = JSON.parse(json.stdout) as {
      pods: { name: string; volumes: { volume: string; action: string; chosenBy: string }[] }[];
    };
    assert.deepEqual(
      plan.pods.map((p) => [p.name, p.volumes]),
      [
        [
          'db',
          [
            {
              volume: 'data',
              action: 'fs-backup',
              chosenBy: 'the pod annotation backup.cairn.dev/backup-volumes',
            },
          ],
        ],
      ],
    );
  });
});
