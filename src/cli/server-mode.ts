// The CLI in server mode: when Cairn's server is installed (the Deployment `cairn` in the namespace given
// by --namespace, default `cairn`), `backup create` and `restore create` create resources for the server
// instead of running the engines here, and --wait follows their status with the same progress display.
// --standalone runs here whatever is installed; --server insists on the server.
import {
  ANNOTATIONS,
  CAIRN_API_VERSION,
  creatorAnnotation,
  type Backup,
  type Restore,
} from '../api/index.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { KubeApiError, KubeClient } from '../kube/index.ts';
import type { CliIO } from './io.ts';
import { kubeConfigOf, type ModeOptions } from './options.ts';
import { progressReporter } from './progress.ts';

/**
 * The client to reach Cairn's server with, or undefined to run standalone: forced by --server or
 * --standalone, else whether the server's Deployment is installed. No kubeconfig at all is standalone
 * too (which reports that in its own words), unless the server is required.
 */
export async function serverClient(
  io: CliIO,
  command: Command,
  options: ModeOptions,
): Promise<KubeClient | undefined> {
  if (options.server && options.standalone) throw new Error('--server and --standalone exclude each other');
  if (options.standalone) return undefined;
  let client: KubeClient;
  try {
    client = new KubeClient(await kubeConfigOf(io, command));
  } catch (error) {
    if (options.server) throw error;
    return undefined;
  }
  try {
    await client.json({ path: `/apis/apps/v1/namespaces/${options.namespace}/deployments/cairn` });
    return client;
  } catch (error) {
    // Not installed, not visible, or no cluster to ask: standalone.
    if (options.server)
      throw new Error(
        `--server: Cairn's server is not installed in namespace ${options.namespace} (cairn install), or you may not see it`,
        { cause: error },
      );
    return undefined;
  }
}

/**
 * The annotation that names the user as a Restore's creator: who the API server says this client is (a
 * SelfSubjectReview, as `kubectl auth whoami`), which the admission policy cairn-restore-creator compares
 * with the request's user; the server then restores only what that user may write.
 */
export async function creatorAnnotations(client: KubeClient): Promise<Record<string, string>> {
  const review = await client.json<{ status?: { userInfo?: { username?: string; groups?: string[] } } }>({
    method: 'POST',
    path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  const user = review.status?.userInfo;
  if (!user?.username)
    throw new Error('the API server did not say who this kubeconfig user is (SelfSubjectReview)');
  return { [ANNOTATIONS.creator]: creatorAnnotation({ username: user.username, groups: user.groups ?? [] }) };
}

type Tracked = Backup | Restore;

const TERMINAL = new Set(['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation']);

/**
 * Creates the resource, then (with `wait`) follows its status until it ends, showing progress. Resolves
 * with the resource as it last was.
 */
export async function createAndFollow<T extends Tracked>(
  client: KubeClient,
  io: CliIO,
  options: {
    namespace: string;
    kind: 'Backup' | 'Restore';
    plural: string;
    object: Omit<T, 'apiVersion' | 'kind'>;
    wait: boolean;
  },
): Promise<T> {
  const path = `/apis/${CAIRN_API_VERSION}/namespaces/${options.namespace}/${options.plural}`;
  let current: T;
  try {
    current = await client.json<T>({
      method: 'POST',
      path,
      body: { apiVersion: CAIRN_API_VERSION, kind: options.kind, ...options.object },
    });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 409)
      throw new Error(
        `a ${options.kind} named "${options.object.metadata.name}" exists already in namespace ${options.namespace}`,
        {
          cause: error,
        },
      );
    throw error;
  }
  const name = current.metadata.name;
  io.stderr.write(
    `${options.kind} "${name}" created in namespace ${options.namespace}; the server runs it.\n`,
  );
  if (!options.wait) return current;
  const progress = progressReporter(io.stderr);
  try {
    for (;;) {
      const phase = current.status?.phase ?? 'New';
      const p = (
        current.status as
          { progress?: { itemsBackedUp?: number; itemsRestored?: number; totalItems?: number } } | undefined
      )?.progress;
      progress.update(
        p?.itemsBackedUp ?? p?.itemsRestored ?? 0,
        p?.totalItems ?? 0,
        phase === 'InProgress' ? undefined : phase,
        // A backup's total grows while it lists; a restore's is known from its archive.
        { final: options.kind !== 'Backup' || TERMINAL.has(phase) },
      );
      if (TERMINAL.has(phase)) return current;
      await new Promise((resolve) => setTimeout(resolve, 500));
      current = await client.json<T>({ path: `${path}/${encodeURIComponent(name)}` });
    }
  } finally {
    progress.end();
  }
}

/**
 * The bearer token the server's HTTP endpoints (logs, dashboard) authenticate the user by: the
 * kubeconfig user's token, or the one its exec plugin or auth provider yields. Client certificates prove
 * who the user is to the API server only and cannot be passed on.
 */
export async function bearerTokenOf(kc: KubeConfig): Promise<string> {
  const https: { headers?: Record<string, string | number | string[]> } = { headers: {} };
  await kc.applyToHTTPSOptions(https);
  const header = https.headers?.Authorization ?? https.headers?.authorization;
  const token =
    kc.getCurrentUser()?.token ??
    (typeof header === 'string' ? /^Bearer (.+)$/.exec(header)?.[1] : undefined);
  if (!token)
    throw new Error(
      'the kubeconfig has no bearer token for this user (client certificates cannot be passed on): ' +
        'use a token, e.g. `kubectl create token <serviceaccount>` in a kubeconfig user, or --token-file',
    );
  return token;
}
