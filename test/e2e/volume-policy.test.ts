// The volume policy against the testbed's real node, CSI driver and snapshot controller: the precedence
// rows decided per claim (a snapshot rule over the annotation and with snapshotVolumes off, snapshotVolumes
// when no rule matches, a skip rule over snapshotVolumes, a snapshot rule on a volume no CSI driver
// provides, an fs-backup rule on a claim no pod mounts), each read from `backup create --dry-run`, which
// decides exactly as the backup does; then a real backup whose only reason to snapshot is a rule, its
// decisions in `describe --details`; and a Velero-style ConfigMap policy (resourcePolicy), refused with
// the reason when it is not usable. The rows decided per pod volume are in test/unit/volume-policy.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeClient, KubeObject } from '../../src/kube/index.ts';
import { cairn } from '../helpers/cli.ts';
import { busyboxPod, TESTBED_STORAGE, waitForPodReady } from '../helpers/node.ts';
import { clusterClient, eventually, uniqueSuffix } from '../helpers/testbed.ts';

let client: KubeClient;
let ns: string;
let dir: string;
let env: NodeJS.ProcessEnv;

const driver = TESTBED_STORAGE.csiDriver;

async function claim(name: string, storageClassName: string, labels: Record<string, string> = {}) {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
    body: {
      metadata: { name, labels },
      spec: {
        storageClassName,
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '32Mi' } },
      },
    },
  });
}

async function policyFile(name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

/** The dry run's line for a volume or claim, and its summary line. */
async function dryRun(args: string[]): Promise<string> {
  const result = await cairn(
    ['backup', 'create', `plan-${uniqueSuffix()}`, '--include-namespaces', ns, '--dry-run', ...args],
    env,
  );
  assert.equal(result.code, 0, result.stdout + result.stderr);
  return result.stdout;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('the volume policy on the testbed', () => {
  before(async () => {
    client = clusterClient('a');
    dir = await mkdtemp(join(tmpdir(), 'cairn-policy-'));
    env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') };
    ns = `policy-${uniqueSuffix()}`;
    await client.json({ method: 'POST', path: '/api/v1/namespaces', body: { metadata: { name: ns } } });
    // data: a CSI claim the app mounts and names for file-system backup; local: a claim of the node's
    // local provisioner (no CSI driver) the app mounts; spare: a CSI claim no pod mounts.
    await claim('data', TESTBED_STORAGE.csiClass, { tier: 'gold' });
    await claim('local', TESTBED_STORAGE.localClass);
    await claim('spare', TESTBED_STORAGE.csiClass);
    const plain = busyboxPod({
      name: 'app',
      script: 'echo kept > /data/kept.txt; echo ready; exec sleep 3600',
      volumes: {
        data: { persistentVolumeClaim: { claimName: 'data' } },
        local: { persistentVolumeClaim: { claimName: 'local' } },
      },
    });
    const pod = {
      ...plain,
      metadata: { name: 'app', annotations: { 'backup.cairn.dev/backup-volumes': 'data' } },
    };
    await client.json({ method: 'POST', path: `/api/v1/namespaces/${ns}/pods`, body: pod });
    await waitForPodReady(client, ns, 'app');
    // The CSI class binds at once: every claim's facts (its PersistentVolume) are there before the tests.
    await eventually('the claims to be bound', async () => {
      const claims = await client.json<{ items: KubeObject[] }>({
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      });
      const phases = claims.items.map((c) => (c.status as { phase?: string } | undefined)?.phase);
      return phases.length === 3 && phases.every((p) => p === 'Bound') ? true : undefined;
    });
  });

  after(async () => {
    await client.send({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    await rm(dir, { recursive: true, force: true });
  });

  describe('the precedence of a claim (one test per row)', () => {
    it('a matching snapshot rule snapshots the claim over the annotation, with snapshotVolumes off', async () => {
      const file = await policyFile(
        'snapshot',
        `version: v1\nvolumePolicies:\n  - conditions: {csi: {driver: ${driver}}}\n    action: {type: snapshot}\n`,
      );
      const out = await dryRun(['--volume-policy', file, '--node-agent', 'local']);
      assert.match(
        out,
        new RegExp(
          `^ {2}volume data \\(claim data\\): snapshot, chosen by volume policy rule 1 \\(csi \\{"driver":"${escape(driver)}"\\}\\): a CSI snapshot \\(driver ${escape(driver)}, class ${TESTBED_STORAGE.snapshotClass}\\)$`,
          'm',
        ),
      );
    });

    it("a matching snapshot+move rule snapshots the claim and moves its data (Cairn's action)", async () => {
      const file = await policyFile(
        'move',
        `version: v1\nvolumePolicies:\n  - conditions: {csi: {driver: ${driver}}}\n    action: {type: snapshot+move}\n`,
      );
      const out = await dryRun(['--volume-policy', file, '--node-agent', 'local']);
      assert.match(
        out,
        /^ {2}volume data \(claim data\): snapshot, chosen by volume policy rule 1 .*: a CSI snapshot \(.*\); its data moved into the repository$/m,
      );
      const without = await dryRun(['--volume-policy', file]);
      assert.match(
        without,
        /^ {2}volume data \(claim data\): snapshot, .*; kept as a CSI snapshot: no node agent moves data here$/m,
      );
    });

    it('no rule matches: the annotation chooses file-system backup, and snapshotVolumes snapshots the rest', async () => {
      const file = await policyFile(
        'nomatch',
        'version: v1\nvolumePolicies:\n  - conditions: {storageClass: [no-such-class]}\n    action: {type: skip}\n',
      );
      const out = await dryRun(['--volume-policy', file, '--snapshot-volumes', '--node-agent', 'local']);
      assert.match(
        out,
        /^ {2}volume data \(claim data\): fs-backup, chosen by the pod annotation backup\.cairn\.dev\/backup-volumes: its files, with pod .*\/app$/m,
      );
      assert.match(out, /^ {2}claim .*\/spare: snapshot, chosen by snapshotVolumes: a CSI snapshot/m);
    });

    it('a matching skip rule backs up no data of the claim, over snapshotVolumes and the annotation', async () => {
      const file = await policyFile(
        'skip',
        'version: v1\nvolumePolicies:\n  - conditions: {pvcLabels: {tier: gold}}\n    action: {type: skip}\n',
      );
      const out = await dryRun(['--volume-policy', file, '--snapshot-volumes', '--node-agent', 'local']);
      assert.match(
        out,
        /^ {2}volume data \(claim data\): skip, chosen by volume policy rule 1 \(pvcLabels \{"tier":"gold"\}\)$/m,
      );
    });

    it('a snapshot rule on a volume no CSI driver provides: not snapshotted, with a warning naming the claim', async () => {
      const file = await policyFile(
        'local',
        `version: v1\nvolumePolicies:\n  - conditions: {storageClass: [${TESTBED_STORAGE.localClass}]}\n    action: {type: snapshot}\n`,
      );
      const out = await dryRun(['--volume-policy', file]);
      assert.match(
        out,
        /^ {2}volume local \(claim local\): snapshot, chosen by volume policy rule 1 .*: not snapshotted: its volume \S+ is not a CSI volume$/m,
      );
      assert.match(out, /^warning: .*: claim local: not snapshotted: its volume \S+ is not a CSI volume$/m);
    });

    it('a claim no snapshot class serves does not match a CSI rule, and follows the next rule (fs-backup)', async () => {
      const file = await policyFile(
        'fallback',
        'version: v1\nvolumePolicies:\n  - conditions: {csi: {}}\n    action: {type: snapshot}\n  - action: {type: fs-backup}\n',
      );
      const out = await dryRun(['--volume-policy', file, '--node-agent', 'local']);
      assert.match(
        out,
        /^ {2}volume data \(claim data\): snapshot, chosen by volume policy rule 1 \(csi \{\}\): a CSI snapshot/m,
      );
      assert.match(
        out,
        /^ {2}volume local \(claim local\): fs-backup, chosen by volume policy rule 2 \(every volume\): its files, with pod .*\/app$/m,
      );
    });

    it('an fs-backup rule on a claim no pod mounts: not done, with a warning naming the claim', async () => {
      const file = await policyFile(
        'fs',
        'version: v1\nvolumePolicies:\n  - conditions: {csi: {}}\n    action: {type: fs-backup}\n',
      );
      const out = await dryRun(['--volume-policy', file, '--node-agent', 'local']);
      assert.match(
        out,
        /^ {2}volume data \(claim data\): fs-backup, chosen by volume policy rule 1 \(csi \{\}\)/m,
      );
      assert.match(
        out,
        /^ {2}claim .*\/spare: fs-backup, chosen by volume policy rule 1 \(csi \{\}\): not done: no backed-up running pod mounts the claim/m,
      );
      assert.match(
        out,
        /^warning: .*claim spare: volume policy rule 1 \(csi \{\}\) chose fs-backup, not done/m,
      );
    });
  });

  it('backs up by the rule alone, and describe --details says what chose each volume', async (t) => {
    const file = await policyFile(
      'real',
      [
        'version: v1',
        'volumePolicies:',
        '  - conditions: {pvcLabels: {tier: gold}}',
        '    action: {type: snapshot}',
        '  - action: {type: skip}',
      ].join('\n') + '\n',
    );
    const name = `policy-${uniqueSuffix()}`;
    t.after(async () => {
      await cairn(['backup', 'delete', name, '--confirm'], env);
    });
    const made = await cairn(
      ['backup', 'create', name, '--include-namespaces', ns, '--volume-policy', file, '-o', 'json'],
      env,
    );
    assert.equal(made.code, 0, made.stdout + made.stderr);
    const backup = JSON.parse(made.stdout) as {
      spec: { volumePolicy?: unknown };
      status: { phase: string; csiVolumeSnapshotsAttempted?: number; csiVolumeSnapshotsCompleted?: number };
    };
    assert.equal(backup.status.phase, 'Completed');
    assert.equal(backup.status.csiVolumeSnapshotsAttempted, 1);
    assert.equal(backup.status.csiVolumeSnapshotsCompleted, 1);
    assert.deepEqual((backup.spec.volumePolicy as { volumePolicies: unknown[] }).volumePolicies.length, 2);
    const described = await cairn(['backup', 'describe', name, '--details'], env);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /^Volumes \(the action for each, and what chose it\):$/m);
    assert.match(
      described.stdout,
      new RegExp(
        `^ {2}claim ${ns}/data: snapshot, chosen by volume policy rule 1 \\(pvcLabels \\{"tier":"gold"\\}\\): a CSI snapshot`,
        'm',
      ),
    );
    assert.match(
      described.stdout,
      new RegExp(`^ {2}claim ${ns}/local: skip, chosen by volume policy rule 2 \\(every volume\\)$`, 'm'),
    );
    assert.match(
      described.stdout,
      new RegExp(`^ {2}claim ${ns}/spare: skip, chosen by volume policy rule 2`, 'm'),
    );
  });

  it("reads a Velero-style ConfigMap (resourcePolicy) from Cairn's namespace, and refuses one with two keys", async () => {
    const configMap = (data: Record<string, string>) => ({
      metadata: { name: 'volume-policy' },
      data,
    });
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    await client.json({
      method: 'POST',
      path,
      body: configMap({
        'policy.yaml': `version: v1\nvolumePolicies:\n  - conditions: {csi: {driver: ${driver}}}\n    action: {type: skip}\n`,
      }),
    });
    const args = ['--resource-policies-configmap', 'volume-policy', '-n', ns, '--snapshot-volumes'];
    const out = await dryRun(args);
    assert.match(out, /^ {2}claim .*\/spare: skip, chosen by volume policy rule 1/m);
    await client.json({
      method: 'PUT',
      path: `${path}/volume-policy`,
      body: configMap({ a: 'version: v1\n', b: 'version: v1\n' }),
    });
    const name = `refused-${uniqueSuffix()}`;
    const refused = await cairn(['backup', 'create', name, '--include-namespaces', ns, ...args], env);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(
        `resourcePolicy "volume-policy": .*ConfigMap ${ns}/volume-policy .*has 2 data keys \\(a, b\\); it must have exactly one`,
      ),
    );
    const got = await cairn(['backup', 'get', name], env);
    assert.notEqual(got.code, 0, 'nothing was written: ' + got.stdout);
  });

  it('refuses a policy file with a problem, naming the file, the field and the value', async () => {
    const file = await policyFile('bad', 'version: v1\nvolumePolicies:\n  - action: {type: snapshots}\n');
    const result = await cairn(
      ['backup', 'create', `bad-${uniqueSuffix()}`, '--include-namespaces', ns, '--volume-policy', file],
      env,
    );
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      new RegExp(
        `--volume-policy ${escape(file)}: volumePolicies\\[0\\]\\.action\\.type "snapshots": must be one of`,
      ),
    );
    // The policy given twice (inline and as a ConfigMap) is refused before anything runs.
    const good = await policyFile('good', 'version: v1\nvolumePolicies:\n  - action: {type: skip}\n');
    const both = await cairn(
      [
        'backup',
        'create',
        `both-${uniqueSuffix()}`,
        '--include-namespaces',
        ns,
        '--volume-policy',
        good,
        '--resource-policies-configmap',
        'volume-policy',
      ],
      env,
    );
    assert.equal(both.code, 1, both.stdout + both.stderr);
    assert.match(
      both.stderr,
      /--volume-policy and --resource-policies-configmap give the same thing: give one/,
    );
  });
});
