// Paged lists of any resource, optionally at one exact revision of the cluster's storage.
//
// Point-in-time consistency: every object stored in one etcd shares one revision counter, so listing each
// resource with resourceVersion=<rv>&resourceVersionMatch=Exact returns the objects exactly as they were
// at revision <rv>, however long the backup takes and whatever changes meanwhile. The continue token of
// the first page carries that revision, so later pages stay at it too.
import type { KubeClient, KubeRequest } from './client.ts';
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

/** The request for one page: the first at the revision, the later ones by continue token. */
function pageRequest(resource: ApiResource, options: ListOptions, token: string | undefined): KubeRequest {
  const first = token === undefined;
  return {
    path: collectionPath(resource, options.namespace),
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
  };
}

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
  const fetchPage = (token: string | undefined) => {
    const page = client.json<KubeList>(pageRequest(resource, options, token));
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

/** A list page as the API server sent it: its items not parsed, its metadata read from the front. */
export interface RawListPage {
  /** The whole JSON body, `{"kind":...,"metadata":{...},"items":[...]}`. */
  body: Buffer;
  resourceVersion: string;
  remainingItemCount?: number;
}

interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/**
 * The list metadata of a body the way the API server writes built-in lists: kind, apiVersion and metadata
 * before the items. Read from the front of the body without parsing the items; undefined for another
 * order (custom resources' lists put the items first), which the caller parses whole instead.
 */
export function listMetadataAhead(body: Buffer): ListMeta | undefined {
  const head = body.subarray(0, Math.min(body.length, 64 * 1024)).toString('latin1');
  const items = head.indexOf(',"items":');
  if (items === -1) return undefined;
  try {
    const prefix = JSON.parse(`${head.slice(0, items)}}`) as { metadata?: unknown };
    const metadata = prefix.metadata;
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return undefined;
    return metadata;
  } catch {
    return undefined;
  }
}

/**
 * The pages of a list, unparsed where the metadata can be read ahead (listMetadataAhead), parsed
 * otherwise: for callers that hand the bytes to another thread. Same requests, prefetching and errors
 * as listPages.
 */
export async function* listRawPages(
  client: KubeClient,
  resource: ApiResource,
  options: ListOptions = {},
): AsyncGenerator<RawListPage | ListPage> {
  const fetchPage = (token: string | undefined) => {
    const page = client.ok(pageRequest(resource, options, token));
    page.catch(() => undefined);
    return page;
  };
  let next: Promise<{ body: Buffer }> | undefined = fetchPage(undefined);
  while (next !== undefined) {
    const { body } = await next;
    const ahead = listMetadataAhead(body);
    const parsed = ahead ? undefined : (JSON.parse(body.toString('utf8')) as KubeList);
    const metadata: ListMeta = ahead ?? parsed?.metadata ?? {};
    const token = metadata.continue || undefined;
    next = token === undefined ? undefined : fetchPage(token);
    const remaining = metadata.remainingItemCount;
    const common = {
      resourceVersion: metadata.resourceVersion ?? '',
      ...(remaining !== undefined ? { remainingItemCount: remaining } : {}),
    };
    if (parsed) {
      for (const item of parsed.items) {
        item.apiVersion ??= resource.groupVersion;
        item.kind ??= resource.kind;
      }
      yield { items: parsed.items, ...common };
    } else yield { body, ...common };
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
