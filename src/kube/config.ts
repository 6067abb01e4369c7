// Where the cluster is and who we are: a kubeconfig from --kubeconfig, KUBECONFIG, ~/.kube/config, or
// the pod's service account when running in a cluster, in that order, as kubectl looks.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeConfigError } from './errors.ts';

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
  const kc = new KubeConfig();
  const { env } = options;
  if (options.kubeconfig) {
    loadFile(kc, options.kubeconfig);
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(':').filter(Boolean);
    const [first, ...rest] = files;
    if (first === undefined) throw new KubeConfigError('KUBECONFIG names no file');
    loadFile(kc, first);
    for (const file of rest) {
      if (!existsSync(file)) continue; // kubectl skips missing files in a KUBECONFIG list
      const other = new KubeConfig();
      loadFile(other, file);
      kc.mergeConfig(other, true);
    }
  } else if (env.HOME && existsSync(join(env.HOME, '.kube', 'config'))) {
    loadFile(kc, join(env.HOME, '.kube', 'config'));
  } else if (env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountToken)) {
    kc.loadFromCluster();
  } else {
    throw new KubeConfigError(
      'no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config',
    );
  }
  if (options.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(options.context)) {
      throw new KubeConfigError(
        `context "${options.context}" is not in the kubeconfig (contexts: ${names.join(', ') || 'none'})`,
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
