// Backup hooks read from pod annotations, Cairn's spelling and Velero's, as Velero reads them; every value
// that cannot be read is named with its annotation, the way `--dry-run` will show it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupResourceHook } from '../../src/api/index.ts';
import {
  backupHooksForPod,
  backupHooksFromAnnotations,
  hookSpecProblems,
  type HookPod,
} from '../../src/backup/index.ts';

const pod = (annotations: Record<string, string>, containers = ['db', 'sidecar']): HookPod => ({
  metadata: { namespace: 'shop', name: 'db-0', annotations },
  spec: { containers: containers.map((name) => ({ name })) },
});

describe('backup hooks from pod annotations', () => {
  it('reads pre and post hooks with their defaults: first container, Fail, 30s', () => {
    const hooks = backupHooksFromAnnotations(
      pod({
        'pre.hook.backup.cairn.dev/command':
          '["/bin/sh", "-c", "mysqldump --all-databases > /data/dump.sql"]',
        'post.hook.backup.cairn.dev/command': 'fsfreeze-unfreeze',
        'post.hook.backup.cairn.dev/container': 'sidecar',
        'post.hook.backup.cairn.dev/on-error': 'Continue',
        'post.hook.backup.cairn.dev/timeout': '2m',
      }),
    );
    assert.deepEqual(hooks.problems, []);
    assert.deepEqual(hooks.pre, [
      {
        phase: 'pre',
        container: 'db',
        command: ['/bin/sh', '-c', 'mysqldump --all-databases > /data/dump.sql'],
        onError: 'Fail',
        timeoutMs: 30_000,
        from: 'pre.hook.backup.cairn.dev/',
      },
    ]);
    assert.deepEqual(hooks.post, [
      {
        phase: 'post',
        container: 'sidecar',
        command: ['fsfreeze-unfreeze'],
        onError: 'Continue',
        timeoutMs: 120_000,
        from: 'post.hook.backup.cairn.dev/',
      },
    ]);
  });

  it("honours Velero's spellings, its unphased pre hook, and lets Cairn's take precedence", () => {
    const velero = backupHooksFromAnnotations(
      pod({
        'hook.backup.velero.io/command': '["sync"]',
        'post.hook.backup.velero.io/command': '["echo", "done"]',
      }),
    );
    assert.deepEqual(velero.problems, []);
    assert.deepEqual(
      velero.pre.map((h) => [h.from, h.command]),
      [['hook.backup.velero.io/', ['sync']]],
    );
    assert.deepEqual(
      velero.post.map((h) => h.command),
      [['echo', 'done']],
    );

    const both = backupHooksFromAnnotations(
      pod({ 'pre.hook.backup.cairn.dev/command': 'a', 'pre.hook.backup.velero.io/command': 'b' }),
    );
    assert.deepEqual(
      both.pre.map((h) => h.command),
      [['a']],
    );
    assert.deepEqual(both.problems, [
      'pod shop/db-0: pre.hook.backup.velero.io/command is ignored: pre.hook.backup.cairn.dev/command is given too, and takes precedence',
    ]);
  });

  it('names each value it cannot read, and runs the hook as Velero would where Velero would', () => {
    const hooks = backupHooksFromAnnotations(
      pod({
        'pre.hook.backup.cairn.dev/command': '["pg_dump", 5]',
        'post.hook.backup.cairn.dev/command': 'thaw',
        'post.hook.backup.cairn.dev/on-error': 'continue',
        'post.hook.backup.cairn.dev/timeout': 'soon',
        'post.hook.backup.cairn.dev/comand': 'typo',
      }),
    );
    assert.deepEqual(hooks.pre, [], 'a command that is not an array of strings runs nothing');
    assert.deepEqual(
      hooks.post.map((h) => [h.onError, h.timeoutMs]),
      [['Fail', 30_000]],
      'unreadable on-error and timeout fall back to the defaults',
    );
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: annotation post.hook.backup.cairn.dev/comand is not a hook field (post.hook.backup.cairn.dev/command, post.hook.backup.cairn.dev/container, post.hook.backup.cairn.dev/on-error, post.hook.backup.cairn.dev/timeout)',
      'pod shop/db-0: pre.hook.backup.cairn.dev/command "[\\"pg_dump\\", 5]": is not a non-empty JSON array of strings',
      'pod shop/db-0: post.hook.backup.cairn.dev/on-error "continue": is not Continue or Fail; Fail applies (as Velero does)',
      'pod shop/db-0: post.hook.backup.cairn.dev/timeout "soon": is not a positive duration such as 30s or 2m; 30s applies',
    ]);
  });

  it('refuses a container the pod does not have, and says when fields come without a command', () => {
    const hooks = backupHooksFromAnnotations(
      pod({
        'pre.hook.backup.cairn.dev/command': 'sync',
        'pre.hook.backup.cairn.dev/container': 'mysql',
        'post.hook.backup.velero.io/container': 'db',
      }),
    );
    assert.deepEqual(hooks.pre, []);
    assert.deepEqual(hooks.post, []);
    assert.deepEqual(hooks.problems, [
      'pod shop/db-0: pre.hook.backup.cairn.dev/container "mysql": the pod has no such container (it has db, sidecar)',
      'pod shop/db-0: post.hook.backup.velero.io/container is set but post.hook.backup.velero.io/command is not: no post hook runs',
    ]);
    assert.deepEqual(backupHooksFromAnnotations(pod({})), { pre: [], post: [], problems: [] });
  });
});

describe("backup hooks from the Backup spec's hook sets", () => {
  const labelled = (labels: Record<string, string>, annotations: Record<string, string> = {}): HookPod => ({
    metadata: { namespace: 'shop', name: 'db-0', labels, annotations },
    spec: { containers: [{ name: 'db' }, { name: 'sidecar' }] },
  });
  const sets: BackupResourceHook[] = [
    { name: 'other-ns', includedNamespaces: ['billing'], pre: [{ exec: { command: ['a'] } }] },
    { name: 'not-pods', includedResources: ['deployments'], pre: [{ exec: { command: ['b'] } }] },
    { name: 'web', labelSelector: 'app=web', pre: [{ exec: { command: ['c'] } }] },
    {
      name: 'db',
      includedNamespaces: ['sh*'],
      includedResources: ['pods'],
      labelSelector: 'app=db',
      pre: [
        { exec: { command: ['dump'], timeout: '5m' } },
        { exec: { command: ['sync'], container: 'sidecar', onError: 'Continue' } },
      ],
      post: [{ exec: { command: ['cleanup'] } }],
    },
    { name: 'all', post: [{ exec: { command: ['last'] } }] },
  ];

  it('take, per phase, every selecting set’s hooks in order: namespaces, resources including pods, labels', () => {
    const hooks = backupHooksForPod(labelled({ app: 'db' }), sets);
    assert.deepEqual(
      hooks.pre.map((h) => [h.command[0], h.container, h.onError, h.timeoutMs, h.from]),
      [
        ['dump', 'db', 'Fail', 300_000, 'spec.hooks.resources[3] (db)'],
        ['sync', 'sidecar', 'Continue', 30_000, 'spec.hooks.resources[3] (db)'],
      ],
    );
    assert.deepEqual(
      hooks.post.map((h) => h.command[0]),
      ['cleanup', 'last'],
    );
    assert.deepEqual(
      backupHooksForPod(labelled({ app: 'web' }), sets).pre.map((h) => h.command[0]),
      ['c'],
    );
    assert.deepEqual(backupHooksForPod(labelled({}), sets).pre, []);
  });

  it('give way, phase by phase, to the hook a pod’s annotations give (Velero’s precedence)', () => {
    const hooks = backupHooksForPod(
      labelled({ app: 'db' }, { 'pre.hook.backup.velero.io/command': '["mine"]' }),
      sets,
    );
    assert.deepEqual(
      hooks.pre.map((h) => h.command[0]),
      ['mine'],
    );
    assert.deepEqual(
      hooks.post.map((h) => h.command[0]),
      ['cleanup', 'last'],
    );
  });

  it('are refused with the field and value named when they cannot be read', () => {
    assert.deepEqual(
      hookSpecProblems([
        {
          name: 'x',
          includedNamespaces: ['Bad_NS'],
          labelSelector: 'app in db',
          pre: [{ exec: { command: [''], timeout: 'soon' } }],
        },
      ]).map((p) => `${p.field} ${JSON.stringify(p.value)}`),
      [
        'hooks.resources[0].includedNamespaces "Bad_NS"',
        'hooks.resources[0].labelSelector "app in db"',
        'hooks.resources[0].pre[0].exec.timeout "soon"',
        'hooks.resources[0].pre[0].exec.command "[\\"\\"]"',
      ],
    );
    assert.deepEqual(hookSpecProblems(sets), []);
  });
});
