// The testbed command itself: `up` prints only exports and reuses what runs, `status` reports it, and
// `down` leaves no process of it running. Runs a second, private testbed in a state directory of its own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function testbed(stateDir: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(repoRoot, 'testbed', 'cli.ts'), ...args],
      { cwd: repoRoot, env: { ...process.env, CAIRN_TESTBED_STATE: stateDir }, timeout: 300_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

describe('the testbed command', () => {
  it('starts, reuses, reports and stops a testbed, leaving no process running', async (t) => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cairn-testbed-'));
    t.after(async () => {
      await testbed(stateDir, ['down']);
      await rm(stateDir, { recursive: true, force: true });
    });

    const up = await testbed(stateDir, ['up']);
    assert.equal(up.code, 0, up.stderr);
    const lines = up.stdout.trim().split('\n');
    assert.ok(
      lines.every((line) => line.startsWith('export ')),
      `up printed more than exports:\n${up.stdout}`,
    );
    for (const name of [
      'KUBECONFIG',
      'CAIRN_S3_ENDPOINT',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'CAIRN_AZURE_CONNECTION_STRING',
      'CAIRN_GCS_ENDPOINT',
      'PATH',
    ]) {
      assert.ok(
        lines.some((line) => line.startsWith(`export ${name}=`)),
        `no export of ${name}`,
      );
    }
    assert.ok(!lines.some((line) => line.startsWith('export KUBECONFIG_B=')), 'one cluster unless asked');

    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      clusters: { processes: { pid: number; name: string }[] }[];
      stores: { process: { pid: number } }[];
    };
    const pids = [
      ...state.clusters.flatMap((c) => c.processes.map((p) => p.pid)),
      ...state.stores.map((s) => s.process.pid),
    ];
    assert.equal(
      pids.length,
      7,
      'etcd, kube-apiserver, kube-controller-manager, kube-scheduler, MinIO, Azurite, fake-gcs-server',
    );
    assert.ok(pids.every(alive));

    const status = await testbed(stateDir, ['status']);
    assert.equal(status.code, 0, status.stdout);
    assert.match(status.stdout, /a\/kube-apiserver\s+\d+\s+running\s+https:\/\/127\.0\.0\.1:\d+ v1\.34\.4/);

    const again = await testbed(stateDir, ['up']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, up.stdout, 'a running testbed is reused with the same endpoints');
    const env = await testbed(stateDir, ['env']);
    assert.equal(env.stdout, up.stdout);

    const down = await testbed(stateDir, ['down']);
    assert.equal(down.code, 0, down.stderr);
    const survivors = pids.filter(alive);
    assert.deepEqual(survivors, [], 'down left processes running');
    assert.ok(!existsSync(join(stateDir, 'state.json')));

    const after = await testbed(stateDir, ['status']);
    assert.equal(after.code, 1);
    assert.match(after.stdout, /testbed: not running/);
  });
});
