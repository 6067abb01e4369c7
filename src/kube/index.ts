// Kubernetes access: kubeconfig loading, a rate-limited, retrying REST client, discovery, resource-name
// resolution, paged point-in-time lists and watches. Label selectors are in src/api/labels.ts.
export { loadKubeConfig, type KubeConfigOptions } from './config.ts';
export {
  KubeClient,
  defaultClientBurst,
  defaultClientQps,
  type KubeClientOptions,
  type KubeRequest,
  type KubeResponse,
  type RetryEvent,
  type ServerVersion,
} from './client.ts';
export {
  collectionPath,
  discover,
  groupResourceOf,
  type ApiResource,
  type DiscoveryResult,
} from './discovery.ts';
export { execFailureText, formatCommand, type ExecOptions, type ExecResult } from './exec.ts';
export { ResourceMapper } from './resource-mapper.ts';
export { rawListItems, type RawItem } from './raw-items.ts';
export {
  currentRevision,
  defaultPageSize,
  isRevisionUnavailable,
  listItems,
  listPages,
  listRawPages,
  listMetadataAhead,
  type ListOptions,
  type ListPage,
  type RawListPage,
} from './list.ts';
export { watch, WatchExpiredError, type WatchEvent, type WatchOptions, type WatchStatus } from './watch.ts';
export type { KubeList, KubeObject, ObjectMeta } from './object.ts';
export { RateLimiter, type RateLimiterOptions } from './rate-limit.ts';
export { defaultRetry, isRetryable, retryAfterMs } from './retry.ts';
export { ClusterUnreachableError, KubeApiError, KubeConfigError, UnknownResourceError } from './errors.ts';
export { compileNamespaceFilter, type NamespaceFilter, type NamespaceFilterProblem } from './namespaces.ts';
export { podSetProblems, podSetSelects, type PodSetSpec } from './pod-sets.ts';
