// Items the selection takes that the restore still leaves out: what the kubelet or a controller makes
// again, what belongs to the target cluster, volumes whose claims get new ones (src/restore/skip.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import type { ContentItem } from '../../src/restore/contents.ts';
import { ownerKey, skipReason, type SkipFacts } from '../../src/restore/skip.ts';

const facts: SkipFacts = {
  volumesFromSnapshots: new Set(['pv-snap']),
  movedVolumes: new Set(['pv-moved']),
  reprovisioned: new Set(['pv-moved', 'pv-delete']),
  clusterRolesInFull: false,
  owners: new Set([ownerKey('ReplicaSet', 'shop', 'web-1')]),
  podHasWork: false,
};
const item = (
  namespace: string | undefined,
  name: string,
  fields: { metadata?: Partial<KubeObject['metadata']>; status?: unknown } = {},
): ContentItem => ({
  groupResource: '',
  ...(namespace !== undefined ? { namespace } : {}),
  name,
  version: 'v1',
  object: { apiVersion: 'v1', kind: 'X', ...fields, metadata: { ...fields.metadata, name } },
});
const ownedBy = (kind: string, name: string) => ({
  metadata: { ownerReferences: [{ apiVersion: 'apps/v1', kind, name, uid: 'u', controller: true }] },
});

describe('items left out of a restore', () => {
  it('leaves out mirror pods and finished pods, and restores a running one', () => {
    const mirror = item('shop', 'etcd', {
      metadata: { annotations: { 'kubernetes.io/config.mirror': 'x' } },
    });
    assert.equal(skipReason('pods', mirror, facts), 'a mirror pod (the kubelet creates it)');
    assert.equal(
      skipReason('pods', item('shop', 'job', { status: { phase: 'Succeeded' } }), facts),
      'a finished pod (Succeeded)',
    );
    assert.equal(skipReason('pods', item('shop', 'web', { status: { phase: 'Running' } }), facts), undefined);
  });

  it('leaves out volumes whose claims get new ones, saying why, and restores the others', () => {
    assert.match(skipReason('persistentvolumes', item(undefined, 'pv-snap'), facts) ?? '', /CSI snapshot/);
    assert.match(
      skipReason('persistentvolumes', item(undefined, 'pv-moved'), facts) ?? '',
      /moved into the repository/,
    );
    assert.match(
      skipReason('persistentvolumes', item(undefined, 'pv-delete'), facts) ?? '',
      /reclaim policy Delete/,
    );
    assert.equal(skipReason('persistentvolumes', item(undefined, 'pv-retain'), facts), undefined);
  });

  it("keeps the target's own system cluster roles unless cluster roles are restored in full", () => {
    const gr = 'clusterroles.rbac.authorization.k8s.io';
    assert.match(
      skipReason(gr, item(undefined, 'system:auth-delegator'), facts) ?? '',
      /the target cluster's own is kept/,
    );
    assert.equal(
      skipReason(gr, item(undefined, 'system:auth-delegator'), { ...facts, clusterRolesInFull: true }),
      undefined,
    );
    assert.equal(skipReason(gr, item(undefined, 'reader'), facts), undefined);
  });

  it("leaves out the cluster's CA and what the endpoint controllers write, not what a user wrote", () => {
    assert.match(
      skipReason('configmaps', item('shop', 'kube-root-ca.crt'), facts) ?? '',
      /publishes its own/,
    );
    const managed = { metadata: { labels: { 'endpoints.kubernetes.io/managed-by': 'endpoint-controller' } } };
    assert.match(
      skipReason('endpoints', item('shop', 'web', managed), facts) ?? '',
      /endpoints controller for Service web/,
    );
    assert.equal(skipReason('endpoints', item('shop', 'external'), facts), undefined);
    const slice = {
      metadata: {
        labels: {
          'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
          'kubernetes.io/service-name': 'web',
        },
      },
    };
    assert.equal(
      skipReason('endpointslices.discovery.k8s.io', item('shop', 'web-abc', slice), facts),
      'made by the endpoint slice controller for Service web',
    );
    assert.equal(skipReason('endpointslices.discovery.k8s.io', item('shop', 'mine'), facts), undefined);
  });

  it('leaves to a restored controller what it controls, unless the pod has volumes to fill or hooks to run', () => {
    const pod = item('shop', 'web-1-x', ownedBy('ReplicaSet', 'web-1'));
    assert.equal(skipReason('pods', pod, facts), 'left to its controller, ReplicaSet web-1');
    assert.equal(skipReason('pods', pod, { ...facts, podHasWork: true }), undefined);
    assert.equal(
      skipReason('pods', item('shop', 'web-2-x', ownedBy('ReplicaSet', 'web-2')), facts),
      undefined,
    );
    assert.equal(
      skipReason('pods', item('other', 'web-1-x', ownedBy('ReplicaSet', 'web-1')), facts),
      undefined,
    );
  });
});
