// Kubernetes access: kubeconfig loading and a REST client for the API server.
// Later: discovery, paged and point-in-time lists, apply with retries and rate limits, pod exec.
export { loadKubeConfig, type KubeConfigOptions } from './config.ts';
export { KubeClient, type KubeRequest, type KubeResponse, type ServerVersion } from './client.ts';
export { ClusterUnreachableError, KubeApiError, KubeConfigError } from './errors.ts';
