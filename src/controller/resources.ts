// Reading and writing Cairn's own resources (cairn.dev/v1) through the API server: paths, status patches
// with optimistic concurrency, creates and deletes. The controllers' only way to change their resources.
import type { Clock } from './clock.ts';
import { API_GROUP, API_VERSION, CAIRN_API_VERSION, CAIRN_KINDS, type CairnKind } from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';

/** `/apis/cairn.dev/v1/namespaces/<ns>/<plural>[/<name>]`. */
export function resourcePath(kind: CairnKind, namespace: string, name?: string): string {
  const base = `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${CAIRN_KINDS[kind].plural}`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

export interface ResourceWriter {
  client: KubeClient;
  namespace: string;
}

/**
 * Merges `status` into the object's status through the status subresource. With `resourceVersion`, the
 * write is refused (409, returned as false) when the object changed since it was read.
 */
export async function patchStatus(
  writer: ResourceWriter,
  kind: CairnKind,
  name: string,
  status: Record<string, unknown>,
  options: { resourceVersion?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<KubeObject | false> {
  try {
    return await writer.client.json<KubeObject>({
      method: 'PATCH',
      path: `${resourcePath(kind, writer.namespace, name)}/status`,
      contentType: 'application/merge-patch+json',
      signal: options.signal,
      body: {
        ...(options.resourceVersion ? { metadata: { resourceVersion: options.resourceVersion } } : {}),
        status,
      },
    });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 409) return false;
    throw error;
  }
}

/** Merges `patch` into the resource (its metadata and spec; status goes through patchStatus). */
export async function patchResource(
  writer: ResourceWriter,
  kind: CairnKind,
  name: string,
  patch: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<KubeObject> {
  return writer.client.json<KubeObject>({
    method: 'PATCH',
    path: resourcePath(kind, writer.namespace, name),
    contentType: 'application/merge-patch+json',
    signal,
    body: patch,
  });
}

export async function getResource<T extends KubeObject>(
  writer: ResourceWriter,
  kind: CairnKind,
  name: string,
  signal?: AbortSignal,
): Promise<T | undefined> {
  try {
    return await writer.client.json<T>({ path: resourcePath(kind, writer.namespace, name), signal });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** Creates a resource; resolves with undefined when one of that name exists already. */
export async function createResource<T extends KubeObject>(
  writer: ResourceWriter,
  kind: CairnKind,
  object: Omit<T, 'apiVersion' | 'kind'> & { metadata: { name: string } },
  signal?: AbortSignal,
): Promise<T | undefined> {
  try {
    return await writer.client.json<T>({
      method: 'POST',
      path: resourcePath(kind, writer.namespace),
      signal,
      body: {
        apiVersion: CAIRN_API_VERSION,
        kind,
        ...object,
        metadata: { ...object.metadata, namespace: writer.namespace },
      },
    });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 409) return undefined;
    throw error;
  }
}

/** Deletes a resource; a missing one counts as deleted. */
export async function deleteResource(
  writer: ResourceWriter,
  kind: CairnKind,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  try {
    await writer.client.json({ method: 'DELETE', path: resourcePath(kind, writer.namespace, name), signal });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return;
    throw error;
  }
}

/**
 * Progress written to a resource's status at most once per `intervalMs`, one write at a time, failures
 * ignored (the final status follows anyway). `flush()` waits for the write under way.
 */
export function progressWriter(
  writer: ResourceWriter & { clock: Clock },
  target: { kind: CairnKind; name: string; signal: AbortSignal },
  intervalMs = 1000,
): { update: (progress: Record<string, unknown>) => void; flush: () => Promise<void> } {
  let last = 0;
  let writing: Promise<unknown> = Promise.resolve();
  return {
    update: (progress) => {
      const at = writer.clock.now();
      if (at - last < intervalMs) return;
      last = at;
      writing = writing
        .then(() => patchStatus(writer, target.kind, target.name, { progress }, { signal: target.signal }))
        .catch(() => undefined);
    },
    flush: () => writing.then(() => undefined),
  };
}
