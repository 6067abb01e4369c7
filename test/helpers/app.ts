// A small but realistic application in one namespace, for backup and restore tests: a Deployment and its
// Service, a ConfigMap and a Secret, a Pod with a PersistentVolumeClaim bound to a PersistentVolume, a
// ServiceAccount with a Role and RoleBinding, a CRD with custom objects, and a cluster-scoped ClusterRole.
import type { KubeClient } from '../../src/kube/index.ts';
import { eventually } from './testbed.ts';

export interface App {
  namespace: string;
  pv: string;
  crdGroup: string;
  clusterRole: string;
}

const post = (client: KubeClient, path: string, body: unknown) => client.json({ method: 'POST', path, body });

export async function createApp(client: KubeClient, namespace: string): Promise<App> {
  const app: App = {
    namespace,
    pv: `pv-${namespace}`,
    crdGroup: `${namespace}.cairn.example.com`,
    clusterRole: `reader-${namespace}`,
  };
  const ns = `/api/v1/namespaces/${namespace}`;
  const labels = { app: 'shop' };
  await post(client, `${ns}/configmaps`, { metadata: { name: 'settings', labels }, data: { mode: 'prod' } });
  await post(client, `${ns}/secrets`, {
    metadata: { name: 'db-password', labels },
    stringData: { password: 's3cr3t' },
  });
  await post(client, `${ns}/serviceaccounts`, { metadata: { name: 'shop' } });
  await post(client, `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
    metadata: { name: 'shop' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
  });
  await post(client, `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
    metadata: { name: 'shop' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'shop' },
    subjects: [{ kind: 'ServiceAccount', name: 'shop', namespace }],
  });
  await post(client, `/apis/rbac.authorization.k8s.io/v1/clusterroles`, {
    metadata: { name: app.clusterRole },
    rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'] }],
  });
  await post(client, `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    metadata: { name: 'web', labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
    },
  });
  await post(client, `${ns}/services`, {
    metadata: { name: 'web', labels },
    spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await post(client, '/api/v1/persistentvolumes', {
    metadata: { name: app.pv },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      storageClassName: '',
      hostPath: { path: `/tmp/${app.pv}` },
      persistentVolumeReclaimPolicy: 'Retain',
      // Pre-bound to its claim: an unbound volume may be taken by any pending claim in the cluster.
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: 'data' },
    },
  });
  await post(client, `${ns}/persistentvolumeclaims`, {
    metadata: { name: 'data', labels },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: '',
      volumeName: app.pv,
      resources: { requests: { storage: '1Gi' } },
    },
  });
  await post(client, `${ns}/pods`, {
    metadata: { name: 'db', labels: { app: 'db' } },
    spec: {
      containers: [
        {
          name: 'db',
          image: 'postgres:17',
          volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql' }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    },
  });
  await post(client, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    metadata: { name: `widgets.${app.crdGroup}` },
    spec: {
      group: app.crdGroup,
      scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        },
      ],
    },
  });
  const widgets = `/apis/${app.crdGroup}/v1/namespaces/${namespace}/widgets`;
  await eventually('the widgets resource to be served', async () =>
    (await client.send({ path: widgets })).status === 200 ? true : undefined,
  );
  for (const name of ['blue', 'green']) {
    await post(client, widgets, {
      apiVersion: `${app.crdGroup}/v1`,
      kind: 'Widget',
      metadata: { name, labels },
      spec: { color: name },
    });
  }
  await eventually('the claim to be bound', async () => {
    const pvc = await client.json<{ status?: { phase?: string } }>({
      path: `${ns}/persistentvolumeclaims/data`,
    });
    return pvc.status?.phase === 'Bound' ? true : undefined;
  });
  return app;
}

/** Removes what createApp made outside the namespace (the namespace itself is the test's to delete). */
export async function deleteAppClusterObjects(client: KubeClient, app: App): Promise<void> {
  await client.send({ method: 'DELETE', path: `/api/v1/persistentvolumes/${app.pv}` });
  await client.send({
    method: 'DELETE',
    path: `/apis/rbac.authorization.k8s.io/v1/clusterroles/${app.clusterRole}`,
  });
  await client.send({
    method: 'DELETE',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.${app.crdGroup}`,
  });
}

/**
 * What a restore test adds to createApp's application: a StatefulSet with a claim template (and its
 * headless Service), a NodePort Service, a Service without a selector with the Endpoints a user wrote for
 * it, and an Ingress.
 */
export async function addRestoreExtras(client: KubeClient, namespace: string): Promise<void> {
  const ns = `/api/v1/namespaces/${namespace}`;
  const labels = { app: 'db-cluster' };
  await post(client, `${ns}/services`, {
    metadata: { name: 'db-cluster', labels },
    spec: { clusterIP: 'None', selector: labels, ports: [{ port: 5432 }] },
  });
  await post(client, `/apis/apps/v1/namespaces/${namespace}/statefulsets`, {
    metadata: { name: 'db-cluster', labels },
    spec: {
      serviceName: 'db-cluster',
      replicas: 1,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'db', image: 'postgres:17' }] } },
      volumeClaimTemplates: [
        {
          metadata: { name: 'pgdata' },
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: 'standard',
            resources: { requests: { storage: '1Gi' } },
          },
        },
      ],
    },
  });
  await post(client, `${ns}/services`, {
    metadata: { name: 'web-public', labels: { app: 'shop' } },
    spec: { type: 'NodePort', selector: { app: 'shop' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  // A Service without a selector, whose Endpoints a user wrote (an outside database): those Endpoints are
  // the user's, unlike the ones the endpoints controller writes for the Services above.
  await post(client, `${ns}/services`, {
    metadata: { name: 'external-db', labels: { app: 'shop' } },
    spec: { ports: [{ port: 5432, targetPort: 5432 }] },
  });
  await post(client, `${ns}/endpoints`, {
    metadata: { name: 'external-db', labels: { app: 'shop' } },
    subsets: [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ port: 5432 }] }],
  });
  await post(client, `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses`, {
    metadata: { name: 'web', labels: { app: 'shop' } },
    spec: {
      rules: [
        {
          host: `${namespace}.example.com`,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: 'web', port: { number: 80 } } },
              },
            ],
          },
        },
      ],
    },
  });
}
