// Where the cluster is and who we are: a kubeconfig from --kubeconfig, KUBECONFIG, ~/.kube/config, or
// the pod's service account when running in a cluster, in that order, as kubectl looks.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as ClientNode from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigError } from './errors.ts';

let clientNode: typeof ClientNode | undefined;

/**
 * The Kubernetes client library, loaded on first use: its 850 modules take half a second to load, which
 * the many commands that import this layer but never load a kubeconfig (`cairn backup get` on a
 * standalone location, `cairn version --client-only`) should not pay. Loaded with require (Node loads an
 * ES module synchronously that way), so that loadKubeConfig stays synchronous.
 */
export function library(): typeof ClientNode {
  clientNode ??= createRequire(import.meta.url)('@kubernetes/client-node') as typeof ClientNode;
  return clientNode;
}

export interface KubeConfigOptions {
  /** An explicit kubeconfig file (--kubeconfig); wins over everything else. */
  kubeconfig?: string | undefined;
  /** A context of the kubeconfig to use instead of its current context (--context). */
  context?: string | undefined;
  /** The process environment: KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST are read from it. */
  env: Readonly<Record<string, string | undefined>>;
}

const serviceAccountToken = '/var/run/secrets/kubernetes.io/serviceaccount/token';

function loadFile(kc: KubeConfig, file: string): void {
  if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} does not exist`);
  try {
    kc.loadFromFile(file);
  } catch (cause) {
    throw new KubeConfigError(`kubeconfig ${file} cannot be read: ${(cause as Error).message}`, { cause });
  }
}

export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  const { env } = options;
  // Where to look is decided first, so that a missing kubeconfig is reported without loading the library.
  let files: string[] | 'in-cluster';
  if (options.kubeconfig) {
    files = [options.kubeconfig];
  } else if (env.KUBECONFIG) {
    files = env.KUBECONFIG.split(':').filter(Boolean);
    if (files.length === 0) throw new KubeConfigError('KUBECONFIG names no file');
  } else if (env.HOME && existsSync(join(env.HOME, '.kube', 'config'))) {
    files = [join(env.HOME, '.kube', 'config')];
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountToken)) {
    files = 'in-cluster';
  } else {
    throw new KubeConfigError(
      'no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config',
    );
  }
  const [first, ...rest] = files === 'in-cluster' ? [] : files;
  if (first !== undefined && !existsSync(first)) {
    throw new KubeConfigError(
      options.kubeconfig ? `--kubeconfig "${first}": no such file` : `kubeconfig ${first} does not exist`,
    );
  }
  const { KubeConfig } = library();
  const kc = new KubeConfig();
  if (first === undefined) {
    kc.loadFromCluster();
  } else {
    loadFile(kc, first);
    for (const file of rest) {
      if (!existsSync(file)) continue; // kubectl skips missing files in a KUBECONFIG list
      const other = new KubeConfig();
      loadFile(other, file);
      kc.mergeConfig(other, true);
    }
  }
  if (options.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(options.context)) {
      throw new KubeConfigError(
        `--context: context "${options.context}" is not in the kubeconfig (contexts: ${names.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(options.context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new KubeConfigError(
      `the kubeconfig's current context "${kc.getCurrentContext()}" names no cluster`,
    );
  }
  return kc;
}
