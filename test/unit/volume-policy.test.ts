// The volume policy: Velero's resource-policy format read and checked (each problem naming the field and
// the value), every condition matched as documented, the first matching rule deciding, and the precedence
// rows a pod's volumes are decided by (rule before annotation, no user data never backed up). The rows
// decided per claim (snapshot, snapshotVolumes, no class) are in test/e2e/volume-policy.test.ts, against
// the testbed's CSI driver.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeObject } from '../../src/kube/index.ts';
import {
  asPodVolume,
  ClaimReader,
  claimFacts,
  derivedName,
  moveRecords,
  decideClaims,
  NOTHING_CHOSE,
  matchVolumePolicy,
  parseVolumePolicy,
  podVolumeFacts,
  selectPodVolumes,
  VolumePolicyError,
  type PolicyMatch,
  type VolumeFacts,
} from '../../src/volumes/index.ts';
import type { PodVolumeBackup, VolumePolicy, VolumePolicyConditions } from '../../src/api/index.ts';

function problemsOf(text: string): string[] {
  try {
    parseVolumePolicy(text, 'in test');
  } catch (error) {
    assert.ok(error instanceof VolumePolicyError, String(error));
    return error.problems;
  }
  assert.fail('the policy was accepted');
}

const facts = (over: Partial<VolumeFacts> = {}): VolumeFacts => ({
  type: 'csi',
  capacityBytes: 10 * 2 ** 30,
  storageClass: 'fast',
  csi: { driver: 'csi.example', volumeAttributes: { tier: 'gold' } },
  claimLabels: { app: 'db', env: 'prod' },
  claimPhase: 'Bound',
  ...over,
});

const policy = (...rules: VolumePolicy['volumePolicies'] & object): VolumePolicy => ({
  version: 'v1',
  volumePolicies: rules,
});

describe('volume policy: reading', () => {
  it("reads Velero's resource-policy YAML as it is", () => {
    const read = parseVolumePolicy(
      [
        'version: v1',
        'volumePolicies:',
        '  - conditions:',
        '      capacity: "0,100Gi"',
        '      storageClass: [gp2, ebs-sc]',
        '      csi: {driver: ebs.csi.aws.com}',
        '    action: {type: snapshot}',
        '  - conditions:',
        '      nfs: {}',
        '    action:',
        '      type: skip',
        '      parameters: {note: kept}',
        '  - conditions:',
        '      volumeTypes: [emptyDir, configMap]',
        '      pvcLabels: {app: db}',
        '    action: {type: fs-backup}',
      ].join('\n'),
      'in test',
    );
    assert.equal(read.volumePolicies?.length, 3);
    assert.deepEqual(read.volumePolicies?.[0]?.conditions?.storageClass, ['gp2', 'ebs-sc']);
  });

  it('names the field and the value of every problem', () => {
    assert.deepEqual(problemsOf('version: v2\n'), ['version "v2": must be v1']);
    const problems = problemsOf(
      [
        'version: v1',
        'volumePolicies:',
        '  - conditions: {storageClas: [gp2]}',
        '    action: {type: skip}',
        '  - action: {type: snapshots}',
        '  - conditions: {volumeTypes: [configmap]}',
        '    action: {type: skip}',
      ].join('\n'),
    );
    assert.ok(
      problems.some((p) => /^volumePolicies\[0\]\.conditions\.storageClas .*is not a field/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) =>
        /^volumePolicies\[1\]\.action\.type "snapshots": must be one of skip, snapshot, snapshot\+move, fs-backup/.test(
          p,
        ),
      ),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /^volumePolicies\[2\]\.conditions\.volumeTypes\[0\] "configmap"/.test(p)),
      problems.join('\n'),
    );
  });

  it('refuses a capacity that is not a range, or whose minimum is above its maximum', () => {
    assert.match(
      problemsOf('version: v1\nvolumePolicies: [{conditions: {capacity: "5Gi"}, action: {type: skip}}]')[0] ??
        '',
      /^volumePolicies\[0\]\.conditions\.capacity "5Gi": not a capacity range/,
    );
    assert.deepEqual(
      problemsOf('version: v1\nvolumePolicies: [{conditions: {capacity: "10Gi,1Gi"}, action: {type: skip}}]'),
      ['volumePolicies[0].conditions.capacity "10Gi,1Gi": its minimum 10Gi is more than its maximum 1Gi'],
    );
  });

  it('refuses CSI attributes without their driver, YAML that is not YAML, and an empty file', () => {
    assert.match(
      problemsOf(
        'version: v1\nvolumePolicies: [{conditions: {csi: {volumeAttributes: {a: b}}}, action: {type: skip}}]',
      )[0] ?? '',
      /^volumePolicies\[0\]\.conditions\.csi .*volumeAttributes need the driver/,
    );
    assert.match(problemsOf('version: v1\n  bad: [')[0] ?? '', /^not YAML/);
    assert.deepEqual(problemsOf(''), ['it is empty']);
    assert.match(problemsOf('version: v1\nversion: v1')[0] ?? '', /^not YAML/);
  });
});

describe('volume policy: matching', () => {
  const action = { type: 'skip' as const };
  const matches = (conditions: VolumePolicyConditions, f = facts()) =>
    matchVolumePolicy(policy({ conditions, action }), f) !== undefined;

  it('capacity: both bounds included, either side open, an explicit 0 maximum open (Velero)', () => {
    assert.ok(matches({ capacity: '10Gi,20Gi' }));
    assert.ok(matches({ capacity: '1Gi,10Gi' }));
    assert.ok(!matches({ capacity: '1Gi,9Gi' }));
    assert.ok(matches({ capacity: ',10Gi' }));
    assert.ok(matches({ capacity: '10Gi,' }));
    assert.ok(!matches({ capacity: '11Gi,' }));
    assert.ok(matches({ capacity: '5Gi,0' }));
    // A volume without a PersistentVolume has capacity 0.
    assert.ok(matches({ capacity: ',1Gi' }, facts({ capacityBytes: 0 })));
    assert.ok(!matches({ capacity: '1,' }, facts({ capacityBytes: 0 })));
  });

  it('storageClass, nfs, csi, pvcLabels, pvcPhase and volumeTypes, each exactly', () => {
    assert.ok(matches({ storageClass: ['slow', 'fast'] }));
    assert.ok(!matches({ storageClass: ['Fast'] }));
    assert.ok(!matches({ storageClass: ['fast'] }, facts({ storageClass: undefined })));
    assert.ok(!matches({ nfs: {} }));
    assert.ok(matches({ nfs: {} }, facts({ type: 'nfs', nfs: { server: 'n1', path: '/x' } })));
    assert.ok(matches({ nfs: { server: 'n1' } }, facts({ type: 'nfs', nfs: { server: 'n1', path: '/x' } })));
    assert.ok(!matches({ nfs: { path: '/y' } }, facts({ type: 'nfs', nfs: { server: 'n1', path: '/x' } })));
    assert.ok(matches({ csi: {} }));
    assert.ok(matches({ csi: { driver: 'csi.example', volumeAttributes: { tier: 'gold' } } }));
    assert.ok(!matches({ csi: { driver: 'csi.example', volumeAttributes: { tier: 'silver' } } }));
    assert.ok(!matches({ csi: { driver: 'other' } }));
    assert.ok(matches({ pvcLabels: { app: 'db' } }));
    assert.ok(!matches({ pvcLabels: { app: 'db', env: 'dev' } }));
    assert.ok(!matches({ pvcLabels: { app: 'db' } }, facts({ claimLabels: undefined })));
    assert.ok(matches({ pvcPhase: ['Pending', 'Bound'] }));
    assert.ok(!matches({ pvcPhase: ['Pending'] }));
    assert.ok(matches({ volumeTypes: ['csi', 'nfs'] }));
    assert.ok(!matches({ volumeTypes: ['emptyDir'] }));
  });

  it('every condition of a rule must hold; no conditions match every volume; the first match decides', () => {
    assert.ok(!matches({ storageClass: ['fast'], volumeTypes: ['nfs'] }));
    const decided = matchVolumePolicy(
      policy(
        { conditions: { storageClass: ['slow'] }, action: { type: 'skip' } },
        { conditions: { csi: { driver: 'csi.example' } }, action: { type: 'snapshot' } },
        { action: { type: 'fs-backup' } },
      ),
      facts(),
    );
    assert.equal(decided?.index, 2);
    assert.equal(decided?.action, 'snapshot');
    assert.equal(decided?.text, 'volume policy rule 2 (csi {"driver":"csi.example"})');
    const rest = matchVolumePolicy(
      policy(
        { conditions: { storageClass: ['slow'] }, action: { type: 'skip' } },
        { action: { type: 'fs-backup' } },
      ),
      facts({ storageClass: 'other' }),
    );
    assert.equal(rest?.text, 'volume policy rule 2 (every volume)');
    assert.equal(matchVolumePolicy(policy(), facts()), undefined);
  });

  it("reads a claim's facts from its PersistentVolume, and an inline volume's from its source", () => {
    const claim: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'shop', labels: { app: 'db' } },
      status: { phase: 'Bound' },
    };
    const pv: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-1' },
      spec: {
        capacity: { storage: '64Mi' },
        storageClassName: 'cairn-csi',
        csi: { driver: 'csi.cairn.dev', volumeHandle: 'h', volumeAttributes: { a: 'b' } },
      },
    };
    assert.deepEqual(claimFacts(claim, pv), {
      type: 'csi',
      capacityBytes: 64 * 2 ** 20,
      storageClass: 'cairn-csi',
      nfs: undefined,
      csi: { driver: 'csi.cairn.dev', volumeAttributes: { a: 'b' } },
      claimLabels: { app: 'db' },
      claimPhase: 'Bound',
    });
    // An unbound claim: no type, no class, capacity 0; its labels and phase still match.
    assert.deepEqual(claimFacts({ ...claim, status: { phase: 'Pending' } }, undefined), {
      type: '',
      capacityBytes: 0,
      storageClass: undefined,
      nfs: undefined,
      csi: undefined,
      claimLabels: { app: 'db' },
      claimPhase: 'Pending',
    });
    assert.equal(podVolumeFacts({ name: 'scratch', emptyDir: {} }).type, 'emptyDir');
    assert.deepEqual(podVolumeFacts({ name: 'n', nfs: { server: 's', path: '/p' } }).nfs, {
      server: 's',
      path: '/p',
    });
    assert.equal(claimFacts(claim, { ...pv, spec: { storageos: { volumeName: 'x' } } }).type, 'storageOS');
  });
});

describe('volume policy: the precedence of a pod volume (one test per row)', () => {
  function pod(annotations: Record<string, string>, volumes: Record<string, unknown>[]): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'db-0', namespace: 'shop', uid: 'u1', annotations },
      spec: { volumes },
    };
  }
  const rule = (n: number, type: 'skip' | 'snapshot' | 'fs-backup'): PolicyMatch => ({
    index: n,
    rule: { action: { type } },
    action: type,
    text: `volume policy rule ${n} (every volume)`,
  });
  const volumes = [
    { name: 'data', persistentVolumeClaim: { claimName: 'data' } },
    { name: 'scratch', emptyDir: {} },
    { name: 'creds', secret: { secretName: 'db' } },
  ];
  const optIn = { defaultVolumesToFsBackup: false, claimsIncluded: true };

  it('row 1: a volume without user data is never backed up, whatever a rule says', () => {
    const selection = selectPodVolumes(pod({}, volumes), {
      ...optIn,
      policyMatches: new Map([['creds', rule(1, 'fs-backup')]]),
    });
    assert.deepEqual(selection.chosen, []);
    assert.equal(selection.skipped.find((s) => s.name === 'creds')?.noUserData, true);
  });

  it("row 2: a claim the backup's resource filters leave out is not backed up, whatever a rule says", () => {
    const selection = selectPodVolumes(pod({}, volumes), {
      defaultVolumesToFsBackup: false,
      claimsIncluded: false,
      policyMatches: new Map([['data', rule(1, 'fs-backup')]]),
    });
    assert.deepEqual(selection.chosen, []);
    assert.equal(selection.skipped.find((s) => s.name === 'data')?.chosenBy, "the backup's resource filters");
  });

  it('row 3: a matching skip rule wins over the annotation that names the volume', () => {
    const selection = selectPodVolumes(pod({ 'backup.cairn.dev/backup-volumes': 'scratch' }, volumes), {
      ...optIn,
      policyMatches: new Map([['scratch', rule(1, 'skip')]]),
    });
    assert.deepEqual(selection.chosen, []);
    const skipped = selection.skipped.find((s) => s.name === 'scratch');
    assert.equal(skipped?.reason, 'skipped by volume policy rule 1 (every volume)');
    assert.equal(skipped?.chosenBy, 'volume policy rule 1 (every volume)');
  });

  it('row 4: a matching fs-backup rule chooses the volume without an annotation, and over an exclusion', () => {
    const plain = selectPodVolumes(pod({}, volumes), {
      ...optIn,
      policyMatches: new Map([['scratch', rule(2, 'fs-backup')]]),
    });
    assert.deepEqual(plain.chosen, [{ name: 'scratch', chosenBy: 'volume policy rule 2 (every volume)' }]);
    const excluded = selectPodVolumes(
      pod({ 'backup.cairn.dev/backup-volumes-excludes': 'scratch' }, volumes),
      {
        defaultVolumesToFsBackup: true,
        claimsIncluded: true,
        policyMatches: new Map([['scratch', rule(2, 'fs-backup')]]),
      },
    );
    assert.ok(
      excluded.chosen.some((v) => v.name === 'scratch' && v.chosenBy.startsWith('volume policy rule 2')),
    );
  });

  it("row 5: a matching snapshot rule leaves the claim's volume to its snapshot, over the annotation", () => {
    const selection = selectPodVolumes(pod({ 'backup.cairn.dev/backup-volumes': 'data' }, volumes), {
      ...optIn,
      policyMatches: new Map([['data', rule(1, 'snapshot')]]),
    });
    assert.deepEqual(selection.chosen, []);
    const skipped = selection.skipped.find((s) => s.name === 'data');
    assert.equal(skipped?.snapshot, true);
    assert.match(skipped?.reason ?? '', /left to a CSI snapshot of its claim by volume policy rule 1/);
  });

  it('row 6: no rule matches: the annotations decide, as without a policy', () => {
    const optInSelection = selectPodVolumes(pod({ 'backup.velero.io/backup-volumes': 'scratch' }, volumes), {
      ...optIn,
      policyMatches: new Map(),
    });
    assert.deepEqual(optInSelection.chosen, [
      { name: 'scratch', chosenBy: 'the pod annotation backup.velero.io/backup-volumes' },
    ]);
    const optOut = selectPodVolumes(pod({}, volumes), {
      defaultVolumesToFsBackup: true,
      claimsIncluded: true,
      policyMatches: new Map(),
    });
    assert.deepEqual(
      optOut.chosen.map((v) => [v.name, v.chosenBy]),
      [
        ['data', 'defaultVolumesToFsBackup'],
        ['scratch', 'defaultVolumesToFsBackup'],
      ],
    );
  });

  it('row 8: nothing chose the volume: skipped, with the default named', () => {
    const selection = selectPodVolumes(pod({}, volumes), optIn);
    const skipped = selection.skipped.find((s) => s.name === 'scratch');
    assert.equal(skipped?.chosenBy, undefined);
    assert.equal(skipped?.noUserData, false);
    assert.match(skipped?.reason ?? '', /not chosen for file-system backup/);
  });
});

describe('volume policy: the precedence of a claim, where no snapshot is taken (one test per row)', () => {
  // A client for a server that is not there: these rows decide without reading the cluster (the claims
  // are unbound, so there is no PersistentVolume to read), and a read would fail the test.
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'http://127.0.0.1:9', skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  const client = new KubeClient(kc);
  const claim = (name: string, labels: Record<string, string> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'shop', labels },
    spec: {},
    status: { phase: 'Pending' },
  });
  const decide = (input: Partial<Parameters<typeof decideClaims>[0]>) =>
    decideClaims({
      client,
      reader: new ClaimReader(client),
      claims: [claim('data', { tier: 'gold' })],
      fsChosen: new Map(),
      policy: undefined,
      snapshotVolumes: false,
      classes: new Map(),
      ...input,
    });
  const annotated = { pod: 'shop/db-0', chosenBy: 'the pod annotation backup.cairn.dev/backup-volumes' };

  it("a claim whose files a pod volume reads is file-system backed up, with that volume's reason", async () => {
    const { decisions } = await decide({
      fsChosen: new Map([['shop/data', annotated]]),
      snapshotVolumes: true,
    });
    assert.deepEqual(decisions, [
      {
        namespace: 'shop',
        claim: 'data',
        action: 'fs-backup',
        chosenBy: annotated.chosenBy,
        detail: 'its files, with pod shop/db-0',
      },
    ]);
  });

  it('a claim whose chosen files are not read (no node agent), snapshotVolumes off: the fs-backup not done', async () => {
    const notDone = 'not done: no node agent backs up volume files here';
    const { decisions } = await decide({ fsChosen: new Map([['shop/data', { ...annotated, notDone }]]) });
    assert.deepEqual(
      decisions.map((d) => [d.action, d.chosenBy, d.detail]),
      [['fs-backup', annotated.chosenBy, notDone]],
    );
  });

  it('a matching skip rule wins over files chosen but not read and over snapshotVolumes', async () => {
    const { decisions, toSnapshot } = await decide({
      fsChosen: new Map([['shop/data', { ...annotated, notDone: 'not done: the pod is Pending' }]]),
      snapshotVolumes: true,
      policy: {
        version: 'v1',
        volumePolicies: [{ conditions: { pvcLabels: { tier: 'gold' } }, action: { type: 'skip' } }],
      },
    });
    assert.deepEqual(
      decisions.map((d) => [d.action, d.chosenBy]),
      [['skip', 'volume policy rule 1 (pvcLabels {"tier":"gold"})']],
    );
    assert.deepEqual(toSnapshot, []);
  });

  it('an fs-backup rule for a claim no backed-up pod mounts: not done, with a warning', async () => {
    const { decisions, warnings } = await decide({
      policy: { version: 'v1', volumePolicies: [{ action: { type: 'fs-backup' } }] },
    });
    assert.match(decisions[0]?.detail ?? '', /^not done: no backed-up running pod mounts the claim/);
    assert.deepEqual(
      warnings.map((w) => w.namespace),
      ['shop'],
    );
    assert.match(
      warnings[0]?.message ?? '',
      /^claim data: volume policy rule 1 \(every volume\) chose fs-backup, not done/,
    );
  });

  it('nothing chose a method: skipped, naming the default', async () => {
    const { decisions } = await decide({
      policy: {
        version: 'v1',
        volumePolicies: [{ conditions: { pvcLabels: { tier: 'bronze' } }, action: { type: 'skip' } }],
      },
    });
    assert.deepEqual(
      decisions.map((d) => [d.action, d.chosenBy]),
      [['skip', NOTHING_CHOSE]],
    );
  });
});

describe('snapshot data movement: its records', () => {
  const exposed = (namespace: string) => ({
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: derivedName('cairn-move', 'uid-1', namespace, 'data'),
        namespace,
        uid: `pod-${namespace}`,
      },
      spec: { nodeName: 'node-a' },
    } as KubeObject,
    volumeDir: 'pv-1/mount',
    remove: () => Promise.resolve(),
  });
  const record = (namespace: string) => ({
    namespace,
    claim: 'data',
    volume: `pv-${namespace}`,
    driver: 'csi.example',
    className: 'snap',
    contentName: 'c',
    snapshotHandle: `snap-${namespace}`,
  });

  it('names each record for its namespace and claim, one per location, at the claim repository path', () => {
    const made = (namespace: string) =>
      moveRecords({
        exposed: exposed(namespace),
        record: record(namespace),
        backupName: 'nightly',
        backupUid: 'uid-1',
        locations: ['a', 'b'],
      });
    const shop = made('shop');
    const web = made('web');
    // Two namespaces with a claim of the same name: no record shares a name (the server finds records by it).
    const names = [...shop, ...web].map((r) => r.metadata.name);
    assert.equal(new Set(names).size, 4, names.join());
    assert.deepEqual(
      shop.map((r) => [
        r.spec.location,
        r.spec.repository,
        r.spec.persistentVolumeClaim,
        r.spec.movedFrom,
        r.spec.tags?.pv,
      ]),
      [
        ['a', 'shop', 'data', 'snap-shop', 'pv-shop'],
        ['b', 'shop', 'data', 'snap-shop', 'pv-shop'],
      ],
    );
    // Kept as the volume of the pod that mounts the claim, named as that volume's file-system backup is.
    const kept = asPodVolume(
      shop[1] as PodVolumeBackup,
      { namespace: 'shop', name: 'db-0', uid: 'abcdef123456', volume: 'data' },
      'a',
    );
    assert.equal(kept.metadata.name, 'nightly-abcdef12-data-b');
    assert.deepEqual(kept.spec.pod, { namespace: 'shop', name: 'db-0', uid: 'abcdef123456' });
    assert.equal(kept.spec.volumeDir, 'pv-1/mount');
  });
});
