// Paged lists of any resource, optionally at one exact revision of the cluster's storage.
//
// Point-in-time consistency: every object stored in one etcd shares one revision counter, so listing each
// resource with resourceVersion=<rv>&resourceVersionMatch=Exact returns the objects exactly as they were
// at revision <rv>, however long the backup takes and whatever changes meanwhile. The continue token of
// the first page carries that revision, so later pages stay at it too.
import type { KubeClient } from './client.ts';
import { collectionPath, type ApiResource } from './discovery.ts';
import { KubeApiError } from './errors.ts';
import type { KubeList, KubeObject } from './object.ts';

export interface ListOptions {
  /** Only this namespace (namespaced resources); all namespaces when absent. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Items per page. Default 500. */
  limit?: number | undefined;
  /** List exactly at this revision (point in time). Latest when absent. */
  resourceVersion?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListPage {
  items: KubeObject[];
  /** The revision the page was read at. */
  resourceVersion: string;
  /** How many items the later pages hold, when the server says (not with label or field selectors). */
  remainingItemCount?: number;
}

export const defaultPageSize = 500;

/**
 * The pages of a list. Each item gets apiVersion and kind (the API server leaves them out of list items
 * of built-in kinds). A page that cannot be read throws KubeApiError: 410 Gone when the revision was
 * compacted or a continue token expired.
 */
export async function* listPages(
  client: KubeClient,
  resource: ApiResource,
  options: ListOptions = {},
): AsyncGenerator<ListPage> {
  const path = collectionPath(resource, options.namespace);
  const fetchPage = (token: string | undefined) => {
    const first = token === undefined;
    const page = client.json<KubeList>({
      path,
      signal: options.signal,
      query: {
        limit: options.limit ?? defaultPageSize,
        continue: token,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        // A continue token carries the revision: the API server refuses both together.
        resourceVersion: first ? options.resourceVersion : undefined,
        resourceVersionMatch: first && options.resourceVersion !== undefined ? 'Exact' : undefined,
      },
    });
    // A prefetched page whose consumer stopped early must not become an unhandled rejection.
    page.catch(() => undefined);
    return page;
  };
  // The next page is requested while the caller works on the current one.
  let next: Promise<KubeList> | undefined = fetchPage(undefined);
  while (next !== undefined) {
    const page: KubeList = await next;
    const token = page.metadata.continue || undefined;
    next = token === undefined ? undefined : fetchPage(token);
    for (const item of page.items) {
      item.apiVersion ??= resource.groupVersion;
      item.kind ??= resource.kind;
    }
    const remaining = page.metadata.remainingItemCount;
    yield {
      items: page.items,
      resourceVersion: page.metadata.resourceVersion ?? '',
      ...(remaining !== undefined ? { remainingItemCount: remaining } : {}),
    };
  }
}

/** Every item of a list, page by page. */
export async function* listItems(
  client: KubeClient,
  resource: ApiResource,
  options: ListOptions = {},
): AsyncGenerator<KubeObject> {
  for await (const page of listPages(client, resource, options)) yield* page.items;
}

/**
 * The cluster's current storage revision: the resourceVersion of a fresh (quorum-consistent) list.
 * Lists at this revision with resourceVersionMatch=Exact see one consistent state of the cluster.
 */
export async function currentRevision(
  client: KubeClient,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<string> {
  const list = await client.json<KubeList>({
    path: '/api/v1/namespaces',
    query: { limit: 1 },
    signal: options.signal,
  });
  const rv = list.metadata.resourceVersion;
  if (!rv)
    throw new KubeApiError(
      'GET',
      '/api/v1/namespaces',
      200,
      undefined,
      'the list carries no resourceVersion',
    );
  return rv;
}

/** Whether an exact-revision list failed because the revision is gone (compacted) or was never served. */
export function isRevisionUnavailable(error: unknown): boolean {
  return (
    error instanceof KubeApiError && (error.status === 410 || error.status === 504 || error.status === 400)
  );
}
