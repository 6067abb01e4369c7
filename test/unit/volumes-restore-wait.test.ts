import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import {
  findVolumePath,
  markerPath,
  RESTORE_WAIT_CONTAINER,
  VolumePathError,
  withRestoreWait,
} from '../../src/volumes/index.ts';

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'db-0', namespace: 'shop' },
  spec: {
    initContainers: [{ name: 'migrate', image: 'db' }],
    containers: [{ name: 'db', image: 'db' }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data-db-0' } }],
  },
};

interface Container {
  name: string;
  command: string[];
  env: { name: string; value: string }[];
  volumeMounts: { name: string; mountPath: string }[];
}

function run(command: string[], env: Record<string, string>, timeoutMs: number) {
  return new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const [file, ...args] = command;
    execFile(file as string, args, { env, timeout: timeoutMs }, (error, stdout) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout }),
    );
  });
}

describe('restore wait', () => {
  it('puts the wait container first, mounting every restored volume, and leaves the pod given alone', () => {
    const restored = withRestoreWait(pod, { restoreUid: 'r-1', volumes: ['data'], image: 'busybox' });
    const init = (restored.spec as { initContainers: Container[] }).initContainers;
    assert.deepEqual(
      init.map((c) => c.name),
      [RESTORE_WAIT_CONTAINER, 'migrate'],
    );
    assert.deepEqual(init[0]?.volumeMounts, [{ name: 'data', mountPath: '/restores/data' }]);
    assert.deepEqual(init[0]?.env, [{ name: 'RESTORE_UID', value: 'r-1' }]);
    assert.equal((pod.spec as { initContainers: Container[] }).initContainers.length, 1);
    const again = withRestoreWait(restored, { restoreUid: 'r-2', volumes: ['data'], image: 'busybox' });
    assert.equal((again.spec as { initContainers: Container[] }).initContainers.length, 2);
  });

  it("waits, with the shell script it runs, until each volume holds the restore's marker", async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'cairn-wait-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const restored = withRestoreWait(pod, { restoreUid: 'r-1', volumes: ['a', 'b'], image: 'busybox' });
    const [container] = (restored.spec as { initContainers: Container[] }).initContainers;
    assert.ok(container);
    // Run the script with /restores rewritten to the temporary directory.
    const command = container.command.map((part) => part.replaceAll('/restores/', `${root}/`));
    for (const v of ['a', 'b']) await mkdir(join(root, v, '.cairn'), { recursive: true });
    await writeFile(join(root, 'a', markerPath('r-1')), '');
    const waiting = await run(command, { RESTORE_UID: 'r-1', PATH: process.env.PATH ?? '' }, 2500);
    assert.notEqual(waiting.code, 0, 'it ended before volume b was restored');
    await writeFile(join(root, 'b', markerPath('r-1')), '');
    const done = await run(command, { RESTORE_UID: 'r-1', PATH: process.env.PATH ?? '' }, 10_000);
    assert.equal(done.code, 0);
    assert.match(done.stdout, /every volume is restored/);
  });
});

describe('volume paths on the node', () => {
  it("finds the volume's directory under whichever plugin mounted it, and names what is missing", async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'cairn-kubelet-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    const volumes = join(root, 'pods', 'uid-1', 'volumes');
    await mkdir(join(volumes, 'kubernetes.io~empty-dir', 'scratch'), { recursive: true });
    await mkdir(join(volumes, 'kubernetes.io~csi', 'pvc-2', 'mount'), { recursive: true });
    const input = { kubeletRoot: root, podUid: 'uid-1', pod: 'shop/db-0', volume: 'v' };
    assert.equal(
      await findVolumePath({ ...input, volumeDir: 'scratch' }),
      join(volumes, 'kubernetes.io~empty-dir', 'scratch'),
    );
    assert.equal(
      await findVolumePath({ ...input, volumeDir: 'pvc-2/mount' }),
      join(volumes, 'kubernetes.io~csi', 'pvc-2', 'mount'),
    );
    await assert.rejects(findVolumePath({ ...input, volumeDir: 'nope' }), (error: unknown) => {
      assert.ok(error instanceof VolumePathError);
      assert.match(error.message, /pod shop\/db-0, volume v: no directory nope under/);
      return true;
    });
    await assert.rejects(
      findVolumePath({ ...input, podUid: 'uid-9', volumeDir: 'scratch' }),
      /no volumes under/,
    );
    await mkdir(join(volumes, 'kubernetes.io~local-volume', 'scratch'), { recursive: true });
    await assert.rejects(findVolumePath({ ...input, volumeDir: 'scratch' }), /2 directories match/);
  });
});
