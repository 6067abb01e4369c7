// Reading and writing Cairn's own resources (cairn.dev/v1) through the API server: paths, status patches
// with optimistic concurrency, creates and deletes. The controllers' only way to change their resources.
import type { Clock } from './clock.ts';
import {
  API_GROUP,
  API_VERSION,
  backoffMs,
  CAIRN_API_VERSION,
  CAIRN_KINDS,
  type Backoff,
  type CairnKind,
} from '../api/index.ts';
import { ClusterUnreachableError, KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';

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

/** How often patchStatusWhile reads the object again after a 409 before it gives up. */
const STATUS_CONFLICT_TRIES = 10;

/**
 * Merges `status` into the object's status only while `holds` is true of the status the object has: each
 * write carries the resourceVersion it was decided on (first `known`'s, a cached copy, then that of a fresh
 * read after each 409), so that no write decided on an old copy lands over a newer status (a backup's
 * Completed or another server's Failed). Resolves with whether it wrote and the status it decided on.
 */
export async function patchStatusWhile<S extends { phase?: string | undefined }>(
  writer: ResourceWriter,
  kind: CairnKind,
  name: string,
  status: Record<string, unknown>,
  options: {
    holds: (current: S | undefined) => boolean;
    known?: (KubeObject & { status?: S | undefined }) | undefined;
    signal?: AbortSignal | undefined;
  },
): Promise<{ written: boolean; current: S | undefined }> {
  let current = options.known;
  for (let tries = 0; tries < STATUS_CONFLICT_TRIES; tries++) {
    current ??= await getResource<KubeObject & { status?: S }>(writer, kind, name, options.signal);
    // Gone: nothing to write over.
    if (!current) return { written: false, current: undefined };
    if (!options.holds(current.status)) return { written: false, current: current.status };
    const written = await patchStatus(writer, kind, name, status, {
      resourceVersion: current.metadata.resourceVersion,
      signal: options.signal,
    });
    if (written !== false) return { written: true, current: current.status };
    current = undefined;
  }
  throw new Error(
    `${kind} ${name} changed ${STATUS_CONFLICT_TRIES} times while its status was being written; not written`,
  );
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

/** The waits between tries of writeUntilLanded: as the API client's own, at most 10 s apart. */
const landingBackoff: Backoff = { baseDelayMs: 200, maxDelayMs: 10_000 };

/** Whether a failed write may land if tried again: the server away, overloaded or restarting. */
function isPassing(error: unknown): boolean {
  if (error instanceof ClusterUnreachableError) return true;
  return error instanceof KubeApiError && (error.status === 429 || error.status >= 500);
}

/**
 * Tries a write until the API server takes it, for writes that must not be lost to an outage (a backup's
 * locations and final status): while the server cannot be reached or answers 429 or 5xx, it waits by
 * backoffMs, saying once that it waits and once that the write landed. Any other error (the object gone,
 * a patch refused) is thrown at once, and so is the signal's reason when it aborts. Only for writes that
 * are safe to repeat, such as merge patches of absolute values: a try whose answer was lost may have
 * landed.
 */
export async function writeUntilLanded<T>(
  how: { clock: Clock; log: (message: string) => void; what: string },
  write: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  for (let failures = 0; ;) {
    signal.throwIfAborted();
    try {
      const written = await write(signal);
      if (failures > 0) how.log(`${how.what}: written after ${failures + 1} tries`);
      return written;
    } catch (error) {
      signal.throwIfAborted();
      if (!isPassing(error)) throw error;
      failures += 1;
      if (failures === 1)
        how.log(
          `${how.what}: not written yet (${(error as Error).message}); trying again until the API server takes it`,
        );
      await how.clock.sleep(backoffMs(failures, landingBackoff), signal);
    }
  }
}
