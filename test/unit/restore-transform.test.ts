import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import { stringify } from 'yaml';
import { diffItems, diffObjects, formatDiff } from '../../src/restore/diff.ts';
import {
  comparable,
  controllerOf,
  prepareForRestore,
  type TransformOptions,
} from '../../src/restore/transform.ts';

const restoreLabels = { 'velero.io/restore-name': 'shop-1', 'velero.io/backup-name': 'nightly' };

function options(overrides: Partial<TransformOptions> = {}): TransformOptions {
  return {
    namespaceMapping: new Map([['shop', 'shop-copy']]),
    storageClassMapping: new Map([['standard', 'fast']]),
    preserveNodePorts: false,
    restoreLabels,
    ...overrides,
  };
}

/** What the API server adds to every object; prepareForRestore removes all of it. */
const serverMeta = {
  uid: '7c1d6f1e-2b0e-4a8c-9a51-0d4d2f8e6a10',
  resourceVersion: '48213',
  generation: 3,
  creationTimestamp: '2026-01-02T03:04:05Z',
  managedFields: [{ manager: 'kubectl-create', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: {} }],
  selfLink: '/api/v1/namespaces/shop/x',
};

/** Runs prepareForRestore and checks that the input came out unchanged. */
function prepare(groupResource: string, object: KubeObject, opts = options()) {
  const before = structuredClone(object);
  const result = prepareForRestore(groupResource, object, opts);
  assert.deepEqual(object, before, 'the input is not changed');
  return result;
}

describe('prepareForRestore', () => {
  it('resets server metadata, maps the namespace, adds the restore labels, and hands back the status', () => {
    const cm: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'settings',
        generateName: 'settings-',
        namespace: 'shop',
        labels: { app: 'web' },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'kept' },
        finalizers: ['example.com/keep'],
        deletionTimestamp: '2026-01-03T00:00:00Z',
        deletionGracePeriodSeconds: 30,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u1', controller: true }],
        ...serverMeta,
      },
      data: { color: 'blue' },
      status: { observed: true },
    };
    const { object, status } = prepare('configmaps', cm);
    assert.deepEqual(status, { observed: true });
    assert.deepEqual(object, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'settings',
        namespace: 'shop-copy',
        labels: { app: 'web', ...restoreLabels },
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'kept' },
        finalizers: ['example.com/keep'],
      },
      data: { color: 'blue' },
    });
  });

  it('keeps generateName when there is no name, leaves unmapped namespaces and adds no empty labels', () => {
    const { object, status } = prepare(
      'configmaps',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '', generateName: 'x-', namespace: 'other' } },
      options({ restoreLabels: {} }),
    );
    assert.equal(status, undefined);
    assert.deepEqual(object.metadata, { name: '', generateName: 'x-', namespace: 'other' });
  });

  it('drops allocated cluster IPs and node ports of a NodePort service', () => {
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop', ...serverMeta },
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.14.7',
        clusterIPs: ['10.96.14.7'],
        ipFamilies: ['IPv4'],
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 31080 },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443, nodePort: 31443 },
        ],
      },
      status: { loadBalancer: {} },
    };
    assert.deepEqual(prepare('services', service).object, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop-copy', labels: restoreLabels },
      spec: {
        type: 'NodePort',
        ipFamilies: ['IPv4'],
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
        ],
      },
    });
    const preserved = prepare('services', service, options({ preserveNodePorts: true })).object;
    assert.deepEqual(
      (preserved.spec as { ports: { nodePort?: number }[] }).ports.map((p) => p.nodePort),
      [31080, 31443],
    );
    assert.equal((preserved.spec as { clusterIP?: string }).clusterIP, undefined);
  });

  it('keeps the node ports set explicitly with kubectl apply, by port name or, unnamed, by value', () => {
    const lastApplied = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        ports: [
          { name: 'http', port: 80, nodePort: 30080 },
          { name: 'admin', port: 9000 },
        ],
      },
    });
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'front',
        namespace: 'shop',
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied },
      },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        clusterIP: '10.96.0.20',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 },
          { name: 'admin', port: 9000, protocol: 'TCP', nodePort: 31999 },
        ],
      },
    };
    assert.deepEqual(prepare('services', service).object.spec, {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      ports: [
        { name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 },
        { name: 'admin', port: 9000, protocol: 'TCP' },
      ],
    });

    const unnamed: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'one',
        namespace: 'shop',
        annotations: {
          'kubectl.kubernetes.io/last-applied-configuration':
            '{"spec":{"ports":[{"port":80,"nodePort":30001}]}}',
        },
      },
      spec: { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', nodePort: 30001 }] },
    };
    assert.deepEqual(prepare('services', unnamed).object.spec, {
      type: 'NodePort',
      ports: [{ port: 80, protocol: 'TCP', nodePort: 30001 }],
    });
  });

  it('keeps the node ports a field manager owns (server-side apply), and drops an allocated health check port', () => {
    const service: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'edge',
        namespace: 'shop',
        managedFields: [
          {
            manager: 'kubectl',
            operation: 'Apply',
            fieldsType: 'FieldsV1',
            fieldsV1: {
              'f:spec': {
                'f:ports': {
                  'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:nodePort': {}, 'f:port': {} },
                  'k:{"port":81,"protocol":"TCP"}': { '.': {}, 'f:port': {} },
                },
              },
            },
          },
        ],
      },
      spec: {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 31500,
        ports: [
          { port: 80, protocol: 'TCP', nodePort: 30080 },
          { port: 81, protocol: 'TCP', nodePort: 30081 },
        ],
      },
    };
    assert.deepEqual(prepare('services', service).object.spec, {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      ports: [
        { port: 80, protocol: 'TCP', nodePort: 30080 },
        { port: 81, protocol: 'TCP' },
      ],
    });
  });

  it('keeps the "None" cluster IP of a headless service', () => {
    const headless: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db', namespace: 'shop' },
      spec: { clusterIP: 'None', clusterIPs: ['None'], selector: { app: 'db' }, ports: [{ port: 5432 }] },
    };
    assert.deepEqual(prepare('services', headless).object.spec, headless.spec);
  });

  it("clears a pod's node, priority and legacy token volumes of its own service account", () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'builder-0',
        namespace: 'shop',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'builder', uid: 'u2', controller: true },
        ],
      },
      spec: {
        nodeName: 'node-a',
        priority: 1000,
        priorityClassName: 'high',
        serviceAccountName: 'builder',
        initContainers: [
          {
            name: 'init',
            image: 'busybox',
            volumeMounts: [
              { name: 'builder-token-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
            ],
          },
        ],
        containers: [
          {
            name: 'main',
            image: 'builder:1',
            volumeMounts: [
              { name: 'work', mountPath: '/work' },
              { name: 'builder-token-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
              { name: 'default-token-abcde', mountPath: '/other' },
            ],
          },
        ],
        volumes: [
          { name: 'work', emptyDir: {} },
          { name: 'builder-token-x7k2p', secret: { secretName: 'builder-token-x7k2p' } },
          { name: 'default-token-abcde', secret: { secretName: 'default-token-abcde' } },
        ],
      },
      status: { phase: 'Running', podIP: '10.244.0.5' },
    };
    const { object, status } = prepare('pods', pod);
    assert.deepEqual(status, { phase: 'Running', podIP: '10.244.0.5' });
    assert.deepEqual(object.spec, {
      priorityClassName: 'high',
      serviceAccountName: 'builder',
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [
        {
          name: 'main',
          image: 'builder:1',
          volumeMounts: [
            { name: 'work', mountPath: '/work' },
            { name: 'default-token-abcde', mountPath: '/other' },
          ],
        },
      ],
      volumes: [
        { name: 'work', emptyDir: {} },
        { name: 'default-token-abcde', secret: { secretName: 'default-token-abcde' } },
      ],
    });
    assert.equal(object.metadata.ownerReferences, undefined);
  });

  it("removes a claim's binding annotations and maps its storage class", () => {
    const claim: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-db-0',
        namespace: 'shop',
        annotations: {
          'pv.kubernetes.io/bind-completed': 'yes',
          'pv.kubernetes.io/bound-by-controller': 'yes',
          'volume.kubernetes.io/selected-node': 'node-a',
          'volume.beta.kubernetes.io/storage-class': 'standard',
          'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
        },
        finalizers: ['kubernetes.io/pvc-protection'],
      },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        storageClassName: 'standard',
        volumeMode: 'Filesystem',
        volumeName: 'pvc-0f1e',
      },
      status: { phase: 'Bound' },
    };
    assert.deepEqual(prepare('persistentvolumeclaims', claim).object, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-db-0',
        namespace: 'shop-copy',
        labels: restoreLabels,
        annotations: {
          'volume.beta.kubernetes.io/storage-class': 'fast',
          'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
        },
        finalizers: ['kubernetes.io/pvc-protection'],
      },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        storageClassName: 'fast',
        volumeMode: 'Filesystem',
        volumeName: 'pvc-0f1e',
      },
    });
  });

  it("drops a claim's annotations field when only binding annotations were there", () => {
    const claim: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'c', namespace: 'other', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: { storageClassName: 'premium' },
    };
    const { object } = prepare('persistentvolumeclaims', claim, options({ restoreLabels: {} }));
    assert.deepEqual(object, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'c', namespace: 'other' },
      spec: { storageClassName: 'premium' },
    });
  });

  it("maps a volume's claim namespace and storage class, and forgets the claim's uid", () => {
    const volume: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pvc-0f1e', finalizers: ['kubernetes.io/pv-protection'], ...serverMeta },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: 'standard',
        hostPath: { path: '/var/local/pv' },
        claimRef: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: 'shop',
          name: 'data-db-0',
          uid: 'c1a1',
          resourceVersion: '777',
        },
      },
      status: { phase: 'Bound' },
    };
    assert.deepEqual(prepare('persistentvolumes', volume).object, {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pvc-0f1e', finalizers: ['kubernetes.io/pv-protection'], labels: restoreLabels },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: 'fast',
        hostPath: { path: '/var/local/pv' },
        claimRef: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: 'shop-copy',
          name: 'data-db-0',
        },
      },
    });
  });

  it("removes a job's controller-uid labels and its generated selector", () => {
    const job: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'migrate',
        namespace: 'shop',
        labels: { 'batch.kubernetes.io/controller-uid': 'j1', 'batch.kubernetes.io/job-name': 'migrate' },
      },
      spec: {
        backoffLimit: 2,
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'j1' } },
        template: {
          metadata: {
            labels: {
              'batch.kubernetes.io/controller-uid': 'j1',
              'controller-uid': 'j1',
              'batch.kubernetes.io/job-name': 'migrate',
              'job-name': 'migrate',
            },
          },
          spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'migrate:1' }] },
        },
      },
      status: { succeeded: 1 },
    };
    assert.deepEqual(prepare('jobs.batch', job, options({ restoreLabels: {} })).object, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'migrate',
        namespace: 'shop-copy',
        labels: { 'batch.kubernetes.io/controller-uid': 'j1', 'batch.kubernetes.io/job-name': 'migrate' },
      },
      spec: {
        backoffLimit: 2,
        template: {
          metadata: { labels: { 'batch.kubernetes.io/job-name': 'migrate', 'job-name': 'migrate' } },
          spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'migrate:1' }] },
        },
      },
    });
  });

  it('keeps the selector of a job with manualSelector, without the controller-uid labels', () => {
    const job: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'manual', namespace: 'shop' },
      spec: {
        manualSelector: true,
        selector: { matchLabels: { 'controller-uid': 'j2', run: 'manual' } },
        template: { metadata: { labels: { 'controller-uid': 'j2', run: 'manual' } }, spec: {} },
      },
    };
    assert.deepEqual(prepare('jobs.batch', job).object.spec, {
      manualSelector: true,
      selector: { matchLabels: { run: 'manual' } },
      template: { metadata: { labels: { run: 'manual' } }, spec: {} },
    });
  });

  it("maps the storage classes of a stateful set's claim templates", () => {
    const set: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'db', namespace: 'shop' },
      spec: {
        serviceName: 'db',
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { storageClassName: 'standard', accessModes: ['ReadWriteOnce'] },
          },
          {
            metadata: {
              name: 'logs',
              annotations: { 'volume.beta.kubernetes.io/storage-class': 'standard' },
            },
            spec: { accessModes: ['ReadWriteOnce'] },
          },
          { metadata: { name: 'cache' }, spec: { storageClassName: 'premium' } },
        ],
      },
    };
    assert.deepEqual(
      (prepare('statefulsets.apps', set).object.spec as { volumeClaimTemplates: unknown })
        .volumeClaimTemplates,
      [
        { metadata: { name: 'data' }, spec: { storageClassName: 'fast', accessModes: ['ReadWriteOnce'] } },
        {
          metadata: { name: 'logs', annotations: { 'volume.beta.kubernetes.io/storage-class': 'fast' } },
          spec: { accessModes: ['ReadWriteOnce'] },
        },
        { metadata: { name: 'cache' }, spec: { storageClassName: 'premium' } },
      ],
    );
  });

  it('maps the namespaces of service-account subjects in role bindings and cluster role bindings', () => {
    const subjects = [
      { kind: 'ServiceAccount', name: 'web', namespace: 'shop' },
      { kind: 'ServiceAccount', name: 'ci', namespace: 'tools' },
      { kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'Group', name: 'shop', apiGroup: 'rbac.authorization.k8s.io' },
    ];
    const expected = [
      { kind: 'ServiceAccount', name: 'web', namespace: 'shop-copy' },
      { kind: 'ServiceAccount', name: 'ci', namespace: 'tools' },
      { kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' },
      { kind: 'Group', name: 'shop', apiGroup: 'rbac.authorization.k8s.io' },
    ];
    const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' };
    const binding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'viewers', namespace: 'shop' },
      roleRef,
      subjects,
    };
    const cluster: KubeObject = { ...binding, kind: 'ClusterRoleBinding', metadata: { name: 'viewers' } };
    const rb = prepare('rolebindings.rbac.authorization.k8s.io', binding).object;
    assert.deepEqual(rb.subjects, expected);
    assert.equal(rb.metadata.namespace, 'shop-copy');
    const crb = prepare('clusterrolebindings.rbac.authorization.k8s.io', cluster).object;
    assert.deepEqual(crb.subjects, expected);
    assert.equal(crb.metadata.namespace, undefined);
    // Other kinds with a `subjects` field are left alone.
    assert.deepEqual(
      prepare('widgets.example.com', { ...binding, kind: 'Widget' }).object.subjects,
      subjects,
    );
  });

  it('renames a mapped namespace, with its name label, keeping its finalizers', () => {
    const ns: KubeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', team: 'a' }, ...serverMeta },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
    const { object, status } = prepare('namespaces', ns);
    assert.deepEqual(status, { phase: 'Active' });
    assert.deepEqual(object, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: 'shop-copy',
        labels: { 'kubernetes.io/metadata.name': 'shop-copy', team: 'a', ...restoreLabels },
      },
      spec: { finalizers: ['kubernetes'] },
    });
    const unmapped = prepare(
      'namespaces',
      { ...ns, metadata: { name: 'tools' } },
      options({ restoreLabels: {} }),
    );
    assert.deepEqual(unmapped.object.metadata, { name: 'tools' });
  });

  it("drops a service account's legacy token secrets and keeps the others", () => {
    const account: KubeObject = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'web', namespace: 'shop' },
      secrets: [{ name: 'web-token-k2x9d' }, { name: 'registry-creds' }],
      imagePullSecrets: [{ name: 'registry-creds' }],
    };
    const { object } = prepare('serviceaccounts', account);
    assert.deepEqual(object.secrets, [{ name: 'registry-creds' }]);
    assert.deepEqual(object.imagePullSecrets, [{ name: 'registry-creds' }]);
    const only = prepare('serviceaccounts', { ...account, secrets: [{ name: 'web-token-k2x9d' }] }).object;
    assert.equal(Object.hasOwn(only, 'secrets'), false);
  });
});

describe('controllerOf', () => {
  it('names the owner reference marked as controller, and nothing when there is none', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-5d9c-abcde',
        namespace: 'shop',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u0' },
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c', uid: 'u1', controller: true },
        ],
      },
    };
    assert.deepEqual(controllerOf(pod), { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c' });
    assert.equal(controllerOf({ ...pod, metadata: { name: 'bare' } }), undefined);
    assert.equal(
      controllerOf({
        ...pod,
        metadata: { name: 'n', ownerReferences: [{ apiVersion: 'v1', kind: 'A', name: 'a', uid: 'u' }] },
      }),
      undefined,
    );
  });
});

describe('comparable', () => {
  const backedUp: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      labels: { app: 'web' },
      annotations: { 'deployment.kubernetes.io/revision': '7' },
      ...serverMeta,
    },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } } },
    status: { replicas: 3 },
  };

  it('finds a restored object equal to its live copy despite what the server and earlier restores changed', () => {
    const desired = prepareForRestore('deployments.apps', backedUp, options()).object;
    const live: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'shop-copy',
        labels: {
          app: 'web',
          'velero.io/restore-name': 'an-earlier-one',
          'velero.io/backup-name': 'nightly',
        },
        annotations: { 'deployment.kubernetes.io/revision': '1' },
        uid: 'another',
        resourceVersion: '9',
        generation: 1,
        creationTimestamp: '2026-02-01T00:00:00Z',
      },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } } },
      status: { replicas: 1 },
    };
    const before = structuredClone(live);
    assert.deepEqual(
      comparable('deployments.apps', live, options()),
      comparable('deployments.apps', desired, options()),
    );
    assert.deepEqual(live, before, 'the input is not changed');
    assert.deepEqual(comparable('deployments.apps', live, options()), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop-copy', labels: { app: 'web' } },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } } },
    });
  });

  it('does not apply the mappings again: a swap of two names compares as the target has it', () => {
    const swap = options({
      namespaceMapping: new Map([
        ['a', 'b'],
        ['b', 'a'],
      ]),
      storageClassMapping: new Map([
        ['fast', 'slow'],
        ['slow', 'fast'],
      ]),
    });
    const claim: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data', namespace: 'a' },
      spec: { storageClassName: 'fast', volumeName: 'pv-1' },
    };
    const desired = prepareForRestore('persistentvolumeclaims', claim, swap).object;
    const live: KubeObject = {
      ...claim,
      metadata: { name: 'data', namespace: 'b', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: { storageClassName: 'slow', volumeName: 'pv-1' },
    };
    assert.deepEqual(
      comparable('persistentvolumeclaims', live, swap),
      comparable('persistentvolumeclaims', desired, swap),
    );
  });

  it('ignores node ports unless they are preserved, and tells a different one then', () => {
    const service = (nodePort: number): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop-copy' },
      spec: { type: 'NodePort', clusterIP: '10.0.0.1', ports: [{ port: 80, nodePort }] },
    });
    assert.deepEqual(
      comparable('services', service(30001), options()),
      comparable('services', service(30002), options()),
    );
    const preserve = options({ preserveNodePorts: true });
    assert.deepEqual(
      diffObjects(
        comparable('services', service(30001), preserve),
        comparable('services', service(30002), preserve),
      ),
      [{ path: '/spec/ports/0/nodePort', before: 30001, after: 30002 }],
    );
  });
});

describe('diffObjects and formatDiff', () => {
  const live = {
    metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'web', old: 'x' } },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'a', image: 'web:1' }] } } },
    data: { old: 'gone', same: 1 },
  };
  const backup = {
    metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'web', x: 'y' } },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [
            { name: 'a', image: 'web:2' },
            { name: 'b', image: 'sidecar:1' },
          ],
        },
      },
    },
    data: { same: 1 },
  };

  it('lists changes, additions and removals in key order, arrays element by element', () => {
    assert.deepEqual(diffObjects(live, backup), [
      { path: '/data/old', before: 'gone' },
      { path: '/metadata/labels/old', before: 'x' },
      { path: '/metadata/labels/x', after: 'y' },
      { path: '/spec/replicas', before: 3, after: 1 },
      { path: '/spec/template/spec/containers/0/image', before: 'web:1', after: 'web:2' },
      { path: '/spec/template/spec/containers/1', after: { name: 'b', image: 'sidecar:1' } },
    ]);
    assert.deepEqual(diffObjects(live, structuredClone(live)), []);
  });

  it('does not depend on key order, escapes keys as JSON pointers, and treats undefined as absent', () => {
    assert.deepEqual(
      diffObjects({ b: 1, a: 1 }, { a: 2, b: 2 }),
      diffObjects({ a: 1, b: 1 }, { b: 2, a: 2 }),
    );
    assert.deepEqual(diffObjects({ labels: { 'a/b~c': '1' } }, { labels: {} }), [
      { path: '/labels/a~1b~0c', before: '1' },
    ]);
    assert.deepEqual(diffObjects({ a: undefined, b: null }, { b: null }), []);
    assert.deepEqual(diffObjects({ a: [1] }, { a: { 0: 1 } }), [
      { path: '/a', before: [1], after: { 0: 1 } },
    ]);
    assert.deepEqual(diffObjects(1, 2), [{ path: '', before: 1, after: 2 }]);
  });

  it('stops after max entries (20 by default)', () => {
    const many = (v: number) =>
      Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, '0')}`, v]));
    assert.equal(diffObjects(many(1), many(2)).length, 20);
    assert.deepEqual(
      diffObjects(many(1), many(2), { max: 2 }).map((e) => e.path),
      ['/k00', '/k01'],
    );
    assert.deepEqual(diffObjects(many(1), many(2), { max: 0 }), []);
  });

  it('prints one line per entry, values as JSON cut to about 60 characters', () => {
    assert.equal(
      formatDiff(diffObjects(live, backup)),
      [
        '- /data/old',
        '- /metadata/labels/old',
        '+ /metadata/labels/x: "y"',
        '~ /spec/replicas: 3 → 1',
        '~ /spec/template/spec/containers/0/image: "web:1" → "web:2"',
        '+ /spec/template/spec/containers/1: {"name":"b","image":"sidecar:1"}',
      ].join('\n'),
    );
    const long = formatDiff([{ path: '/data/big', before: 'x', after: 'y'.repeat(100) }]);
    assert.equal(long, `~ /data/big: "x" → "${'y'.repeat(58)}…`);
    assert.equal(formatDiff([{ path: '', before: 1, after: 2 }]), '~ /: 1 → 2');
    assert.equal(formatDiff([]), '');
  });
});

describe('diffItems of a Secret', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const secret = (password: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'db',
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          stringData: { password },
        }),
      },
    },
    data: { password: b64(password), user: b64('app') },
    ...extra,
  });
  const values = ['old-pass', 'new-pass', b64('old-pass'), b64('new-pass')];
  const noValueIn = (text: string) => {
    for (const value of values) assert.ok(!text.includes(value), `"${value}" is not shown:\n${text}`);
  };

  it('says a value changed with a short hash prefix, and never shows the value', () => {
    const diff = diffItems('secrets', secret('old-pass'), secret('new-pass'));
    const text = formatDiff(diff);
    assert.match(text, /^~ \/data\/password: changed \(sha256 [0-9a-f]{4}…→[0-9a-f]{4}…\)$/m);
    assert.match(
      text,
      /^~ \/metadata\/annotations\/kubectl\.kubernetes\.io~1last-applied-configuration: changed \(sha256 [0-9a-f]{4}…→[0-9a-f]{4}…\)$/m,
    );
    assert.equal(diff.length, 2, 'the unchanged user is not listed');
    noValueIn(text);
    noValueIn(JSON.stringify(diff));
    noValueIn(stringify(diff));
  });

  it('shows the same hash prefix for the same value, and nothing when the values are equal', () => {
    const one = formatDiff(diffItems('secrets', secret('old-pass'), secret('new-pass')));
    const two = formatDiff(diffItems('secrets', secret('x'), secret('new-pass')));
    const after = (text: string) => /\/data\/password: changed \(sha256 .*→(\S+)\)/.exec(text)?.[1];
    assert.equal(after(one), after(two));
    assert.deepEqual(diffItems('secrets', secret('same'), secret('same')), []);
  });

  it('keys its hashes to the run: a prefix cannot be checked against the plain SHA-256 of a guess', () => {
    const guesses = ['admin', 'password', 'true', '5432', 'root', 'secret', 'hunter2', 'changeme'];
    const plain = (text: string) => createHash('sha256').update(b64(text)).digest('hex').slice(0, 4);
    const shown = guesses.map((g) => {
      const text = formatDiff(diffItems('secrets', secret('x'), secret(g)));
      return /→([0-9a-f]{4})…\)/.exec(text)?.[1];
    });
    // By chance one of eight may match (1 in 65,536 each); all eight would only with plain hashes.
    assert.ok(
      shown.some((hash, i) => hash !== plain(guesses[i] ?? '')),
      'every prefix is the plain SHA-256 of its value',
    );
  });

  it('conceals an added key, and a whole data or stringData map that only one side has', () => {
    const added = formatDiff(
      diffItems('secrets', secret('old-pass'), {
        ...secret('old-pass'),
        data: { ...secret('old-pass').data, token: b64('new-pass') },
      }),
    );
    assert.equal(added.split('\n').length, 1);
    assert.match(added, /^\+ \/data\/token: added \(sha256 [0-9a-f]{4}…\)$/);
    const whole = formatDiff(
      diffItems(
        'secrets',
        { ...secret('old-pass'), data: undefined },
        secret('old-pass', { stringData: { token: 'new-pass' } }),
      ),
    );
    assert.match(whole, /^\+ \/data: \{"password":"sha256:[0-9a-f]{4}…","user":"sha256:[0-9a-f]{4}…"\}$/m);
    assert.match(whole, /^\+ \/stringData: \{"token":"sha256:[0-9a-f]{4}…"\}$/m);
    noValueIn(added + whole);
  });

  it('shows the values of other kinds as they are', () => {
    assert.deepEqual(diffItems('configmaps', { data: { a: 'x' } }, { data: { a: 'y' } }), [
      { path: '/data/a', before: 'x', after: 'y' },
    ]);
  });
});
