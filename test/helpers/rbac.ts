// ServiceAccounts, Roles and tokens for the tests that act as a user other than the admin (the server's
// HTTP endpoints decide by TokenReview and SubjectAccessReview).
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, loadKubeConfig } from '../../src/kube/index.ts';
import { testbedEnv } from './testbed.ts';

export interface ServiceAccountRef {
  name: string;
  namespace: string;
}

/** A Role of `rules` in `namespace`, bound to the ServiceAccount. */
export async function grantRole(
  client: KubeClient,
  namespace: string,
  role: string,
  account: ServiceAccountRef,
  rules: unknown[],
): Promise<void> {
  await client.json({
    method: 'POST',
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
    body: { metadata: { name: role }, rules },
  });
  await client.json({
    method: 'POST',
    path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
    body: {
      metadata: { name: role },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      subjects: [{ kind: 'ServiceAccount', ...account }],
    },
  });
}

/**
 * A new ServiceAccount, with a Role of `rules` named after it in its namespace (none when `rules` is
 * empty), and a token of it (TokenRequest, valid an hour).
 */
export async function serviceAccountToken(
  client: KubeClient,
  account: ServiceAccountRef,
  rules: unknown[] = [],
): Promise<string> {
  await client.json({
    method: 'POST',
    path: `/api/v1/namespaces/${account.namespace}/serviceaccounts`,
    body: { metadata: { name: account.name } },
  });
  if (rules.length > 0) await grantRole(client, account.namespace, account.name, account, rules);
  const request = await client.json<{ status: { token: string } }>({
    method: 'POST',
    path: `/api/v1/namespaces/${account.namespace}/serviceaccounts/${account.name}/token`,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  return request.status.token;
}

/** A client of the testbed's cluster a that presents `token` instead of the admin's credentials. */
export function clientWithToken(token: string): KubeClient {
  const admin = loadKubeConfig({ kubeconfig: testbedEnv('KUBECONFIG'), env: {} });
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the testbed kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: 'token', token }],
    contexts: [{ name: 'token', cluster: cluster.name, user: 'token' }],
    currentContext: 'token',
  });
  return new KubeClient(kc);
}
