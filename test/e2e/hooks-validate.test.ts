// `cairn hooks validate`: the backup hooks of manifests' pods and pod templates, read as a backup reads
// them, with every annotation or hook set that would not run as written named; no cluster needed.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cairn, envWithoutCluster } from '../helpers/cli.ts';

const workloads = `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: shop }
spec:
  template:
    metadata:
      labels: { app: db }
      annotations:
        pre.hook.backup.cairn.dev/command: '["sh","-c","pg_dump > /data/x"'
        post.hook.backup.velero.io/command: '["rm","/data/x"]'
        post.hook.backup.velero.io/comand: oops
    spec:
      containers: [{ name: postgres, image: postgres }]
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: { name: web-0, namespace: shop, labels: { app: web } }
    spec:
      containers: [{ name: web, image: nginx }, { name: sidecar, image: busybox }]
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: settings, namespace: shop }
`;

const backup = (selector: string) => `apiVersion: cairn.dev/v1
kind: Backup
metadata: { name: nightly, namespace: cairn }
spec:
  hooks:
    resources:
      - name: web
        labelSelector: ${selector}
        pre: [{ exec: { command: [sync], container: sidecar, timeout: 10s, onError: Continue } }]
`;

async function files(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-hooks-validate-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const paths = {
    workloads: join(dir, 'app.yaml'),
    backup: join(dir, 'backup.yaml'),
    bad: join(dir, 'bad.yaml'),
  };
  await writeFile(paths.workloads, workloads);
  await writeFile(paths.backup, backup('app=web'));
  await writeFile(paths.bad, backup('"app in web"'));
  return { dir, paths };
}

describe('cairn hooks validate', () => {
  it('lists the hooks each pod and pod template would run, and names what would not run as written', async (t) => {
    const { dir, paths } = await files(t);
    const result = await cairn(
      ['hooks', 'validate', '-f', paths.workloads, '--backup', paths.backup],
      envWithoutCluster(dir),
    );
    assert.equal(result.code, 1, 'problems: exit code 1');
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 3), [
      'StatefulSet shop/db:',
      '  post in container postgres: ["rm","/data/x"] (on-error Fail, timeout 30 s; from post.hook.backup.velero.io/)',
      '  problem: pod shop/db: annotation post.hook.backup.velero.io/comand is not a hook field (post.hook.backup.velero.io/command, post.hook.backup.velero.io/container, post.hook.backup.velero.io/on-error, post.hook.backup.velero.io/timeout)',
    ]);
    assert.match(
      lines[3] ?? '',
      /^ {2}problem: pod shop\/db: pre\.hook\.backup\.cairn\.dev\/command "\[\\"sh\\",\\"-c\\",\\"pg_dump > \/data\/x\\"": starts with \[ but is not a JSON array \(/,
    );
    assert.deepEqual(lines.slice(4), [
      'Pod shop/web-0:',
      '  pre in container sidecar: ["sync"] (on-error Continue, timeout 10 s; from spec.hooks.resources[0] (web))',
      '2 pods, 2 problems',
      '',
    ]);

    const json = await cairn(
      ['hooks', 'validate', '-f', paths.workloads, '-o', 'json'],
      envWithoutCluster(dir),
    );
    const report = JSON.parse(json.stdout) as {
      pods: { object: string; pre: unknown[]; problems: string[] }[];
    };
    assert.deepEqual(
      report.pods.map((p) => [p.object, p.pre.length, p.problems.length]),
      [
        ['StatefulSet shop/db', 0, 2],
        ['Pod shop/web-0', 0, 0],
      ],
    );
  });

  it('names a hook set that cannot be read, and passes manifests whose hooks are fine', async (t) => {
    const { dir, paths } = await files(t);
    const bad = await cairn(
      ['hooks', 'validate', '-f', paths.workloads, '--backup', paths.bad],
      envWithoutCluster(dir),
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^problem: .*bad\.yaml: hooks\.resources\[0\]\.labelSelector "app in web": /m);

    const fine = join(dir, 'fine.yaml');
    await writeFile(
      fine,
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    pre.hook.backup.cairn.dev/command: \'["true"]\'\nspec:\n  containers: [{ name: c, image: x }]\n',
    );
    const ok = await cairn(['hooks', 'validate', '-f', fine], envWithoutCluster(dir));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      /^Pod default\/p:\n {2}pre in container c: \["true"\] \(on-error Fail, timeout 30 s/,
    );
    assert.match(ok.stdout, /^1 pods, 0 problems$/m);

    const help = await cairn(['hooks', 'validate', '--help'], envWithoutCluster(dir));
    assert.match(help.stdout, /\nExamples:\n {2}cairn hooks validate -f /);

    const missing = await cairn(['hooks', 'validate', '-f', join(dir, 'nope.yaml')], envWithoutCluster(dir));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.yaml.*no such file/i);
  });

  it('lists restore hooks, from annotations and a Restore’s hook sets (a manifest, or the hooks object alone), and refuses a set that is not one', async (t) => {
    const { dir } = await files(t);
    const pod = join(dir, 'db.yaml');
    await writeFile(
      pod,
      [
        'apiVersion: v1',
        'kind: Pod',
        'metadata:',
        '  name: db-0',
        '  namespace: shop',
        '  labels: { app: db }',
        '  annotations:',
        `    post.hook.restore.velero.io/command: '["sh","-c","psql < /backup/backup.sql"]'`,
        '    post.hook.restore.velero.io/wait-timeout: 5m',
        '    init.hook.restore.cairn.dev/container-image: busybox:1.37',
        '    init.hook.restore.cairn.dev/container-name: restore-hook',
        '    init.hook.restore.cairn.dev/comand: x',
        'spec:',
        '  containers: [{ name: postgres, image: postgres }, { name: sidecar, image: busybox }]',
        '',
      ].join('\n'),
    );
    const annotated = await cairn(['hooks', 'validate', '-f', pod], envWithoutCluster(dir));
    assert.equal(annotated.code, 1, 'the typo is a problem');
    assert.match(
      annotated.stdout,
      /^ {2}restore init container restore-hook \(image busybox:1\.37\): the image's entrypoint \(watched 600 s; from init\.hook\.restore\.cairn\.dev\/\)$/m,
    );
    assert.match(
      annotated.stdout,
      /^ {2}restore exec in container postgres once running within 300 s: \["sh","-c","psql < \/backup\/backup\.sql"\] \(on-error Continue, timeout 30 s; from post\.hook\.restore\.velero\.io\/\)$/m,
    );
    assert.match(
      annotated.stdout,
      /problem: pod shop\/db-0: annotation init\.hook\.restore\.cairn\.dev\/comand is not a restore hook field/,
    );

    const sets = join(dir, 'sets.yaml');
    await writeFile(
      sets,
      'resources:\n  - name: side\n    labelSelector: app=db\n    postHooks:\n      - exec: { container: sidecar, command: [date], waitForReady: true }\n',
    );
    const withSets = await cairn(['hooks', 'validate', '-f', pod, '--restore', sets], envWithoutCluster(dir));
    // The annotation's exec hook wins over the set's (Velero's precedence).
    assert.doesNotMatch(withSets.stdout, /\["date"\]/);
    const other = join(dir, 'other.yaml');
    await writeFile(
      other,
      'apiVersion: v1\nkind: Pod\nmetadata: { name: web-0, namespace: shop, labels: { app: db } }\nspec:\n  containers: [{ name: web, image: nginx }, { name: sidecar, image: busybox }]\n',
    );
    const fromSet = await cairn(
      ['hooks', 'validate', '-f', other, '--restore', sets],
      envWithoutCluster(dir),
    );
    assert.equal(fromSet.code, 0, fromSet.stdout + fromSet.stderr);
    assert.match(
      fromSet.stdout,
      /^ {2}restore exec in container sidecar once ready within no limit: \["date"\] \(on-error Continue, timeout 30 s; from spec\.hooks\.resources\[0\] \(side\)\)$/m,
    );

    await writeFile(sets, 'resources:\n  - name: broken\n    postHooks:\n      - init: {}\n');
    const broken = await cairn(['hooks', 'validate', '-f', other, '--restore', sets], envWithoutCluster(dir));
    assert.equal(broken.code, 1);
    assert.match(
      broken.stderr,
      /--restore .*sets\.yaml: hooks\.resources\[0\]\.postHooks\[0\]\.init\.initContainers/,
    );
  });
});
