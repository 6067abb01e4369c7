// What `cairn install` puts in a cluster, rendered from code (the CRDs from the API schemas): the
// namespace, the CRDs, the server's ServiceAccount and RBAC, the location's credentials Secret, the
// BackupLocation, and the server's Deployment. Applied with server-side apply (field manager "cairn"), in
// dependency order; `uninstall` deletes them again and leaves every stored backup where it is.
import { DEFAULT_KUBELET_ROOT } from '../volumes/index.ts';
import {
  CAIRN_API_VERSION,
  customResourceDefinitions,
  restoreCreatorPolicy,
  type BackupLocationSpec,
  type CustomResourceDefinition,
} from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import { DEFAULT_METRICS_PORT } from './server.ts';
import { CA_CONFIGMAP, SERVER_SERVICE, TLS_SECRET } from './transport.ts';
import { credentialsSecretName } from './locations.ts';
import { LABELS } from '../api/index.ts';
import { NODE_AGENT_ACCOUNT, rbacManifests, SERVER_ACCOUNT } from './rbac.ts';

export const INSTALL_LABELS = { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/part-of': 'cairn' };
export const CREDENTIALS_SECRET = 'cairn-credentials';
export const CREDENTIALS_KEY = 'cloud';

export interface InstallOptions {
  namespace: string;
  image: string;
  /** The location `default`, made from the flags; none when undefined. */
  location?: { name: string; spec: BackupLocationSpec } | undefined;
  /** The credentials file's content (goes into the Secret `cairn-credentials`, key `cloud`). */
  credentials?: string | undefined;
  /**
   * A ReadOnly location beside it (a mirror of another cluster's bucket, to restore from), and its
   * credentials file's content (the Secret `cairn-credentials-<name>`, key `cloud`).
   */
  readOnlyLocation?: { name: string; spec: BackupLocationSpec; credentials?: string | undefined } | undefined;
  /** Replicas of the server (one leads). Default 1. */
  replicas?: number | undefined;
  /** The kubelet's --root-dir on the nodes, for the node agent. Default /var/lib/kubelet. */
  kubeletRoot?: string | undefined;
}

type Manifest = KubeObject;

const meta = (name: string, namespace?: string) => ({
  name,
  ...(namespace ? { namespace } : {}),
  labels: { ...INSTALL_LABELS },
});

/** Every object, in the order they are applied. */
export function installManifests(options: InstallOptions): Manifest[] {
  const { namespace } = options;
  const objects: Manifest[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace) },
    ...customResourceDefinitions().map((crd: CustomResourceDefinition): Manifest => ({
      ...crd,
      metadata: { ...crd.metadata, labels: { ...crd.metadata.labels, ...INSTALL_LABELS } },
    })),
    // The admission policy that records who created each Restore (tenant-safe restore, docs/security.md).
    ...restoreCreatorPolicy().map((object): Manifest => ({
      ...object,
      metadata: meta(object.metadata.name),
    })),
    // The ServiceAccounts, roles and bindings of the server and the node agent (rbac.ts says why each rule).
    ...rbacManifests(namespace, INSTALL_LABELS),
  ];
  if (options.credentials !== undefined)
    objects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(CREDENTIALS_SECRET, namespace),
      type: 'Opaque',
      data: { [CREDENTIALS_KEY]: Buffer.from(options.credentials).toString('base64') },
    });
  if (options.location)
    objects.push({
      apiVersion: CAIRN_API_VERSION,
      kind: 'BackupLocation',
      metadata: meta(options.location.name, namespace),
      spec: options.location.spec,
    });
  if (options.readOnlyLocation) objects.push(...readOnlyLocationObjects(options.readOnlyLocation, namespace));
  const fsPath = options.location?.spec.provider === 'fs' ? options.location.spec.config?.path : undefined;
  objects.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta('cairn', namespace),
    spec: {
      replicas: options.replicas ?? 1,
      selector: {
        matchLabels: { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/component': 'server' },
      },
      template: {
        metadata: {
          labels: { ...INSTALL_LABELS, 'app.kubernetes.io/component': 'server' },
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(DEFAULT_METRICS_PORT),
            'prometheus.io/path': '/metrics',
            'prometheus.io/scheme': 'https',
          },
        },
        spec: {
          serviceAccountName: SERVER_ACCOUNT,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: 'cairn',
              image: options.image,
              args: ['server', '--namespace', namespace, '--metrics-address', `:${DEFAULT_METRICS_PORT}`],
              // HTTPS with the certificate the server makes (the Secret cairn-server-tls, docs/server.md).
              ports: [{ name: 'https', containerPort: DEFAULT_METRICS_PORT }],
              // Healthy while running; /readyz is 200 on the leader only (for a leader-only Service), so it
              // is not the readiness probe: a standby must not block a rollout. The kubelet does not
              // verify a probe's certificate.
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' },
                periodSeconds: 20,
              },
              readinessProbe: {
                httpGet: { path: '/healthz', port: 'https', scheme: 'HTTPS' },
                periodSeconds: 10,
              },
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'tmp', mountPath: '/tmp' },
                ...(fsPath ? [{ name: 'location', mountPath: fsPath }] : []),
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            // An fs location is a directory of the node (single-node clusters): mounted at the same path.
            ...(fsPath ? [{ name: 'location', hostPath: { path: fsPath, type: 'DirectoryOrCreate' } }] : []),
          ],
        },
      },
    },
  });
  objects.push(...serverAccess(namespace));
  objects.push(nodeAgentDaemonSet(options));
  return objects;
}

/**
 * The server's HTTPS endpoint (log downloads, the dashboard) as a Service, whose DNS names the server's
 * certificate carries; and the right of every authenticated user to read the CA that certificate is
 * verified by (the ConfigMap cairn-ca, which the CLI reads); and the server's right to write both.
 */
function serverAccess(namespace: string): Manifest[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(SERVER_SERVICE, namespace),
      spec: {
        selector: { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/component': 'server' },
        ports: [{ name: 'https', port: DEFAULT_METRICS_PORT, targetPort: 'https', protocol: 'TCP' }],
      },
    },
    // The server keeps its certificate in a Secret and publishes the CA in a ConfigMap (serving-cert.ts).
    // `create` cannot be limited to a name; the rest is.
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(TLS_SECRET, namespace),
      rules: [
        { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: [TLS_SECRET], verbs: ['get', 'patch'] },
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: [CA_CONFIGMAP],
          verbs: ['get', 'patch'],
        },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(TLS_SECRET, namespace),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: TLS_SECRET },
      subjects: [{ kind: 'ServiceAccount', name: 'cairn', namespace }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(CA_CONFIGMAP, namespace),
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [CA_CONFIGMAP], verbs: ['get'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(CA_CONFIGMAP, namespace),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CA_CONFIGMAP },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    },
  ];
}

/** The ReadOnly location and the Secret of its credentials (labelled as `cairn location create` labels it). */
function readOnlyLocationObjects(
  location: NonNullable<InstallOptions['readOnlyLocation']>,
  namespace: string,
): Manifest[] {
  const secret = credentialsSecretName(location.name);
  const spec: BackupLocationSpec = {
    ...location.spec,
    accessMode: 'ReadOnly',
    ...(location.credentials !== undefined ? { credential: { name: secret, key: CREDENTIALS_KEY } } : {}),
  };
  return [
    ...(location.credentials !== undefined
      ? [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              ...meta(secret, namespace),
              labels: { ...INSTALL_LABELS, [LABELS.credentialsOf]: location.name },
            },
            type: 'Opaque',
            data: { [CREDENTIALS_KEY]: Buffer.from(location.credentials).toString('base64') },
          },
        ]
      : []),
    { apiVersion: CAIRN_API_VERSION, kind: 'BackupLocation', metadata: meta(location.name, namespace), spec },
  ];
}

/**
 * The node agent on every node: it reads and writes pod volumes where the kubelet mounts them (the host's
 * <kubelet root>/pods, mounted at the same path with the host's mounts propagated), as root, to read and
 * restore files of any owner and mode.
 */
function nodeAgentDaemonSet(options: InstallOptions): Manifest {
  const { namespace } = options;
  const kubeletRoot = options.kubeletRoot ?? DEFAULT_KUBELET_ROOT;
  const pods = `${kubeletRoot.replace(/\/+$/, '')}/pods`;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta('cairn-node-agent', namespace),
    spec: {
      selector: {
        matchLabels: { 'app.kubernetes.io/name': 'cairn', 'app.kubernetes.io/component': 'node-agent' },
      },
      template: {
        metadata: { labels: { ...INSTALL_LABELS, 'app.kubernetes.io/component': 'node-agent' } },
        spec: {
          serviceAccountName: NODE_AGENT_ACCOUNT,
          // Every node, tainted or not: a pod anywhere may have volumes to back up.
          tolerations: [{ operator: 'Exists' }],
          containers: [
            {
              name: 'node-agent',
              image: options.image,
              args: ['node-agent', '--namespace', namespace, '--kubelet-root', kubeletRoot],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                // glibc's malloc keeps an arena per thread; the chunk worker and the thread pool's zstd
                // contexts left about 70 MB of freed memory in them in the volume benchmark (docs/benchmarks.md).
                { name: 'MALLOC_ARENA_MAX', value: '2' },
              ],
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
              securityContext: { privileged: true, runAsUser: 0 },
              volumeMounts: [
                { name: 'pods', mountPath: pods, mountPropagation: 'HostToContainer' },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'pods', hostPath: { path: pods, type: 'Directory' } },
            { name: 'tmp', emptyDir: {} },
          ],
        },
      },
    },
  };
}

/** The API path of an object of the kinds installManifests makes. */
function pathOf(object: Manifest): string {
  const { name, namespace } = object.metadata;
  const ns = namespace ? `/namespaces/${namespace}` : '';
  switch (object.kind) {
    case 'Namespace':
      return `/api/v1/namespaces/${name}`;
    case 'CustomResourceDefinition':
      return `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;
    case 'ServiceAccount':
      return `/api/v1${ns}/serviceaccounts/${name}`;
    case 'Secret':
      return `/api/v1${ns}/secrets/${name}`;
    case 'ClusterRole':
      return `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`;
    case 'ClusterRoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`;
    case 'Service':
      return `/api/v1${ns}/services/${name}`;
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1${ns}/roles/${name}`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1${ns}/rolebindings/${name}`;
    case 'ValidatingAdmissionPolicy':
      return `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${name}`;
    case 'ValidatingAdmissionPolicyBinding':
      return `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${name}`;
    case 'BackupLocation':
      return `/apis/${CAIRN_API_VERSION}${ns}/backuplocations/${name}`;
    case 'Deployment':
      return `/apis/apps/v1${ns}/deployments/${name}`;
    case 'DaemonSet':
      return `/apis/apps/v1${ns}/daemonsets/${name}`;
    default:
      throw new Error(`cairn install does not make ${object.kind} objects`);
  }
}

/**
 * Applies the objects in order (server-side apply, field manager "cairn", conflicts forced), waiting
 * for the CRDs to be established before the resources that use them. Told of each object applied.
 */
export async function applyInstall(
  client: KubeClient,
  objects: readonly Manifest[],
  options: { onApplied?: (object: Manifest) => void; signal?: AbortSignal | undefined } = {},
): Promise<void> {
  for (const object of objects) {
    if (object.kind === 'BackupLocation') await waitForCrds(client, objects, options.signal);
    await client.json({
      method: 'PATCH',
      path: pathOf(object),
      query: { fieldManager: 'cairn', force: true },
      contentType: 'application/apply-patch+yaml',
      body: object,
      signal: options.signal,
    });
    options.onApplied?.(object);
  }
  await waitForCrds(client, objects, options.signal);
}

async function waitForCrds(
  client: KubeClient,
  objects: readonly Manifest[],
  signal?: AbortSignal,
): Promise<void> {
  for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
    for (let tries = 0; ; tries++) {
      const live = await client.json<{ status?: { conditions?: { type: string; status: string }[] } }>({
        path: pathOf(crd),
        signal,
      });
      if (live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (tries > 100) throw new Error(`CRD ${crd.metadata.name} is not established after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}

/** Uninstalling would delete the only in-cluster copies of the locations' keys. */
export class UninstallRefusedError extends Error {
  override readonly name = 'UninstallRefusedError';
  readonly namespace: string;
  readonly keySecrets: string[];
  constructor(namespace: string, keySecrets: string[]) {
    super(
      `namespace ${namespace} holds the backups' encryption keys (Secrets ${keySecrets.join(', ')}): ` +
        `without them the backups cannot be read. Keep a copy (kubectl get secret -n ${namespace} ` +
        `${keySecrets.join(' ')} -o yaml > cairn-keys.yaml), then run again with --delete-keys. Nothing was deleted.`,
    );
    this.namespace = namespace;
    this.keySecrets = keySecrets;
  }
}

/**
 * Deletes what install made, the Deployment first and the namespace (with its resources) last; the CRDs
 * go unless `keepCrds`. Objects already gone are skipped. Stored backups are never touched.
 */
export async function uninstall(
  client: KubeClient,
  options: {
    namespace: string;
    keepCrds?: boolean;
    /** Delete the locations' key Secrets with the namespace; refused (nothing deleted) without it. */
    deleteKeys?: boolean;
    onDeleted?: (what: string) => void;
    signal?: AbortSignal;
  },
): Promise<void> {
  // The keys may be the only copies: deleting them makes every encrypted backup unreadable.
  const keys = await client
    .json<{ items: KubeObject[] }>({
      path: `/api/v1/namespaces/${options.namespace}/secrets`,
      query: { labelSelector: LABELS.location },
      signal: options.signal,
    })
    .then(
      (list) => list.items.map((secret) => secret.metadata.name),
      (error: unknown) => {
        if (error instanceof KubeApiError && error.status === 404) return [];
        throw error;
      },
    );
  if (keys.length > 0 && !options.deleteKeys) throw new UninstallRefusedError(options.namespace, keys);
  const objects = installManifests({ namespace: options.namespace, image: 'unused' });
  const order = [
    'DaemonSet',
    'Deployment',
    'ClusterRoleBinding',
    'ClusterRole',
    'Namespace',
    'CustomResourceDefinition',
    // Kept with the CRDs: Restores that stay keep a creator nobody can forge.
    'ValidatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicy',
  ];
  const withCrds = new Set([
    'CustomResourceDefinition',
    'ValidatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicy',
  ]);
  for (const kind of order) {
    if (withCrds.has(kind) && options.keepCrds) continue;
    for (const object of objects.filter((o) => o.kind === kind)) {
      try {
        await client.json({ method: 'DELETE', path: pathOf(object), signal: options.signal });
        options.onDeleted?.(`${object.kind} ${object.metadata.name}`);
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
    }
  }
}
