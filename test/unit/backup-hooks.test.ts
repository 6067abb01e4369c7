// Backup hooks read from pod annotations, Cairn's spelling and Velero's, as Velero reads them; every value
// that cannot be read is named with its annotation, the way `--dry-run` will show it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backupHooksFromAnnotations, type HookPod } from '../../src/backup/index.ts';

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
