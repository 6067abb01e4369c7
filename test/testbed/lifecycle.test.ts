// The testbed command itself: `up` prints only exports and reuses what runs, `status` reports it, and
// `down` leaves no process of it running and nothing of its node on the machine, even after a crash.
// Runs a second, private testbed in a state directory of its own.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

const SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];
const sysctls = () => SYSCTLS.map((key) => `${key}=${readFileSync(`/proc/sys/${key}`, 'utf8').trim()}`);

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Processes whose command line mentions the directory (the node's shims name its containerd socket). */
function processesMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || !alive(Number(entry))) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
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

    const kernelBefore = sysctls();
    const up = await testbed(stateDir, ['up', '--node']);
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
      nodes: {
        name: string;
        dir: string;
        bridge: string;
        cgroupRoot: string;
        processes: { pid: number; name: string }[];
      }[];
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
    const [node] = state.nodes;
    assert.ok(node, 'a node for the cluster');
    assert.deepEqual(node.processes.map((p) => p.name).sort(), [
      'a/cairn-csi',
      'a/containerd',
      'a/csi-provisioner',
      'a/csi-snapshotter',
      'a/kubelet',
      'a/local-provisioner',
      'a/snapshot-controller',
    ]);
    pids.push(...node.processes.map((p) => p.pid));
    assert.ok(pids.every(alive));

    const status = await testbed(stateDir, ['status']);
    assert.equal(status.code, 0, status.stdout);
    assert.match(status.stdout, /a\/kube-apiserver\s+\d+\s+running\s+https:\/\/127\.0\.0\.1:\d+ v1\.34\.4/);
    assert.match(status.stdout, /a\/node\s+-\s+Ready\s+testbed-a 10\.244\.\d+\.1 containerd:\/\/1\.6\.\d+/);
    assert.match(status.stdout, /testbed\.cairn\.dev\/busybox:1\.35/);
    assert.match(status.stdout, /a\/cairn-csi\s+\d+\s+running/);

    const again = await testbed(stateDir, ['up', '--node']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, up.stdout, 'a running testbed is reused with the same endpoints');
    const env = await testbed(stateDir, ['env']);
    assert.equal(env.stdout, up.stdout);

    // A pod runs, then the kubelet and containerd crash: `down` must still leave nothing behind.
    const kubeconfig = /^export KUBECONFIG='([^']+)'$/m.exec(up.stdout)?.[1] ?? '';
    const kubectlPath = join(/^export PATH='([^':]+)/m.exec(up.stdout)?.[1] ?? '', 'kubectl');
    const run = await new Promise<Result>((resolve) => {
      execFile(
        kubectlPath,
        [
          '--kubeconfig',
          kubeconfig,
          'run',
          'sleeper',
          '--image=testbed.cairn.dev/busybox:1.35',
          '--image-pull-policy=Never',
          '--',
          'sleep',
          '3600',
        ],
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
    assert.equal(run.code, 0, run.stderr);
    const deadline = Date.now() + 120_000;
    while (
      !processesMentioning(node.dir).some((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('containerd-shim'),
      )
    ) {
      assert.ok(Date.now() < deadline, 'the pod never got a shim');
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(mountsUnder(node.dir).length > 0, 'the running pod has mounts under the node directory');
    for (const name of ['a/kubelet', 'a/containerd']) {
      const pid = node.processes.find((p) => p.name === name)?.pid;
      if (pid) process.kill(pid, 'SIGKILL');
    }

    const down = await testbed(stateDir, ['down']);
    assert.equal(down.code, 0, down.stderr);
    const survivors = pids.filter(alive);
    assert.deepEqual(survivors, [], 'down left processes running');
    assert.deepEqual(processesMentioning(node.dir), [], 'down left shims or containers running');
    assert.deepEqual(mountsUnder(node.dir), [], 'down left mounts');
    assert.ok(!existsSync(`/sys/class/net/${node.bridge}`), `down left the bridge ${node.bridge}`);
    const cgroups = readdirSync('/sys/fs/cgroup').filter((c) =>
      existsSync(join('/sys/fs/cgroup', c, node.cgroupRoot)),
    );
    if (existsSync(join('/sys/fs/cgroup', node.cgroupRoot))) cgroups.push('(unified)');
    assert.deepEqual(cgroups, [], `down left the cgroup ${node.cgroupRoot}`);
    assert.deepEqual(sysctls(), kernelBefore, 'down restored the kernel settings the kubelet changed');
    assert.ok(!existsSync(join(stateDir, 'state.json')));

    const twice = await testbed(stateDir, ['down']);
    assert.equal(twice.code, 0, `a second down is harmless: ${twice.stderr}`);

    const after = await testbed(stateDir, ['status']);
    assert.equal(after.code, 1);
    assert.match(after.stdout, /testbed: not running/);
  });
});
