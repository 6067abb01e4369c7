// Discovery of every resource the API server serves: group, versions (preferred first), scope, verbs,
// kind, singular and short names. Uses aggregated discovery (two requests for the whole cluster, GA
// since Kubernetes 1.30) and falls back to the per-group-version endpoints when a server lacks it.
// Subresources (pods/log, deployments/scale) are not resources of their own and are left out.
import type { KubeClient } from './client.ts';
import { KubeApiError } from './errors.ts';

export interface ApiResource {
  /** '' for the core group. */
  group: string;
  version: string;
  /** 'v1' or 'apps/v1'. */
  groupVersion: string;
  /** The plural name: 'deployments'. */
  resource: string;
  /** Velero's GroupResource string: 'pods', 'deployments.apps'. */
  groupResource: string;
  kind: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  verbs: string[];
  /** Whether this version is the group's preferred version. */
  preferred: boolean;
}

export interface DiscoveryResult {
  /** Every served resource in every served version; preferred versions first within a group. */
  resources: ApiResource[];
  /** Group versions the server lists but could not describe (an unavailable aggregated API). */
  failedGroupVersions: { groupVersion: string; reason: string }[];
}

const aggregatedAccept =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;q=0.9';

interface AggregatedList {
  kind?: string;
  items: {
    metadata: { name?: string };
    versions: {
      version: string;
      freshness?: string;
      resources?: {
        resource: string;
        responseKind?: { kind?: string };
        scope: 'Namespaced' | 'Cluster';
        singularResource?: string;
        verbs?: string[];
        shortNames?: string[];
      }[];
    }[];
  }[];
}

interface LegacyResourceList {
  resources: {
    name: string;
    kind: string;
    namespaced: boolean;
    singularName?: string;
    verbs?: string[];
    shortNames?: string[];
  }[];
}

interface LegacyGroupList {
  groups: { name: string; versions: { version: string }[]; preferredVersion?: { version: string } }[];
}

export function groupResourceOf(resource: string, group: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

export interface DiscoverOptions {
  signal?: AbortSignal | undefined;
  /** Use the per-group-version endpoints even when aggregated discovery is served. */
  legacy?: boolean | undefined;
}

export async function discover(client: KubeClient, options: DiscoverOptions = {}): Promise<DiscoveryResult> {
  if (options.legacy) return legacyDiscovery(client, options.signal);
  const aggregated = await Promise.all(
    ['/api', '/apis'].map((path) =>
      client.json<AggregatedList>({ path, signal: options.signal, accept: aggregatedAccept }),
    ),
  );
  if (aggregated.every((list) => list.kind === 'APIGroupDiscoveryList')) return fromAggregated(aggregated);
  return legacyDiscovery(client, options.signal);
}

function fromAggregated(lists: AggregatedList[]): DiscoveryResult {
  const resources: ApiResource[] = [];
  const failedGroupVersions: DiscoveryResult['failedGroupVersions'] = [];
  for (const list of lists) {
    for (const group of list.items) {
      const groupName = group.metadata.name ?? '';
      group.versions.forEach((version, index) => {
        const groupVersion = groupName === '' ? version.version : `${groupName}/${version.version}`;
        if (version.freshness === 'Stale') {
          failedGroupVersions.push({ groupVersion, reason: 'the API server reports its discovery as stale' });
        }
        for (const r of version.resources ?? []) {
          resources.push({
            group: groupName,
            version: version.version,
            groupVersion,
            resource: r.resource,
            groupResource: groupResourceOf(r.resource, groupName),
            kind: r.responseKind?.kind ?? '',
            singular: r.singularResource ?? '',
            shortNames: r.shortNames ?? [],
            namespaced: r.scope === 'Namespaced',
            verbs: r.verbs ?? [],
            preferred: index === 0,
          });
        }
      });
    }
  }
  return { resources, failedGroupVersions };
}

async function legacyDiscovery(
  client: KubeClient,
  signal: AbortSignal | undefined,
): Promise<DiscoveryResult> {
  const groups: { name: string; versions: string[]; preferred: string }[] = [
    { name: '', versions: ['v1'], preferred: 'v1' },
  ];
  const apis = await client.json<LegacyGroupList>({ path: '/apis', signal });
  for (const g of apis.groups) {
    const versions = g.versions.map((v) => v.version);
    groups.push({ name: g.name, versions, preferred: g.preferredVersion?.version ?? versions[0] ?? '' });
  }
  const resources: ApiResource[] = [];
  const failedGroupVersions: DiscoveryResult['failedGroupVersions'] = [];
  const perVersion = groups.flatMap((g) =>
    // Preferred version first, as aggregated discovery orders them.
    [g.preferred, ...g.versions.filter((v) => v !== g.preferred)].map((version) => ({ group: g, version })),
  );
  const lists = await Promise.all(
    perVersion.map(async ({ group, version }) => {
      const groupVersion = group.name === '' ? version : `${group.name}/${version}`;
      const path = group.name === '' ? `/api/${version}` : `/apis/${groupVersion}`;
      try {
        return {
          group,
          version,
          groupVersion,
          list: await client.json<LegacyResourceList>({ path, signal }),
        };
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        failedGroupVersions.push({ groupVersion, reason: error.message });
        return undefined;
      }
    }),
  );
  for (const entry of lists) {
    if (!entry) continue;
    for (const r of entry.list.resources) {
      if (r.name.includes('/')) continue;
      resources.push({
        group: entry.group.name,
        version: entry.version,
        groupVersion: entry.groupVersion,
        resource: r.name,
        groupResource: groupResourceOf(r.name, entry.group.name),
        kind: r.kind,
        singular: r.singularName || r.kind.toLowerCase(),
        shortNames: r.shortNames ?? [],
        namespaced: r.namespaced,
        verbs: r.verbs ?? [],
        preferred: entry.version === entry.group.preferred,
      });
    }
  }
  return { resources, failedGroupVersions };
}

/** The REST path of a resource's collection, in a namespace or cluster-wide. */
export function collectionPath(resource: ApiResource, namespace?: string): string {
  const base =
    resource.group === '' ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const ns =
    namespace !== undefined && resource.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${resource.resource}`;
}
