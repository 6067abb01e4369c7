// What RBAC itself asks before a role or a binding is written, asked for a Restore's creator
// (src/restore/permissions.ts rbacEscalations): `bind` on the role a binding names, where the API server's
// escalation check asks it, and `escalate` on a role; nothing for other resources.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rbacEscalations } from '../../src/restore/permissions.ts';

const RBAC = 'rbac.authorization.k8s.io';
const binding = (kind: string, name: string) => ({
  metadata: { name: 'b' },
  roleRef: { apiGroup: RBAC, kind, name },
});

describe('rbacEscalations', () => {
  it("asks `bind` on a binding's role: in the binding's namespace, or at cluster scope", () => {
    assert.deepEqual(
      rbacEscalations(`rolebindings.${RBAC}`, binding('ClusterRole', 'cluster-admin'), 'team-a'),
      [{ verb: 'bind', group: RBAC, resource: 'clusterroles', namespace: 'team-a', name: 'cluster-admin' }],
    );
    assert.deepEqual(rbacEscalations(`rolebindings.${RBAC}`, binding('Role', 'editor'), 'team-a'), [
      { verb: 'bind', group: RBAC, resource: 'roles', namespace: 'team-a', name: 'editor' },
    ]);
    assert.deepEqual(
      rbacEscalations(`clusterrolebindings.${RBAC}`, binding('ClusterRole', 'cluster-admin'), undefined),
      [{ verb: 'bind', group: RBAC, resource: 'clusterroles', namespace: undefined, name: 'cluster-admin' }],
    );
  });

  it('asks `escalate` on a role by its name', () => {
    assert.deepEqual(rbacEscalations(`roles.${RBAC}`, { metadata: { name: 'reader' } }, 'team-a'), [
      { verb: 'escalate', group: RBAC, resource: 'roles', namespace: 'team-a', name: 'reader' },
    ]);
    assert.deepEqual(rbacEscalations(`clusterroles.${RBAC}`, { metadata: { name: 'all' } }, undefined), [
      { verb: 'escalate', group: RBAC, resource: 'clusterroles', namespace: undefined, name: 'all' },
    ]);
  });

  it('asks nothing more for other resources', () => {
    for (const gr of ['configmaps', 'deployments.apps', `roles.example.com`])
      assert.deepEqual(rbacEscalations(gr, { metadata: { name: 'x' } }, 'team-a'), [], gr);
  });
});
