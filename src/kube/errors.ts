// Typed errors of Kubernetes access: one class per condition, with the fields a caller needs.

/** The kubeconfig could not be found, read or used. */
export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The API server could not be reached at all (connection refused, DNS, TLS, timeout). */
export class ClusterUnreachableError extends Error {
  override readonly name = 'ClusterUnreachableError';
  readonly server: string;
  constructor(server: string, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`cannot reach the API server ${server}: ${reason}`, options);
    this.server = server;
  }
}

/** The API server answered with an error status. `reason` is the Status object's reason, if any. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly reason: string | undefined;
  /** The server's own message (a Status object's `message`), without the request. */
  readonly detail: string;
  constructor(method: string, path: string, status: number, reason: string | undefined, detail: string) {
    super(`${method} ${path}: ${status}${reason ? ` ${reason}` : ''}: ${detail}`);
    this.method = method;
    this.path = path;
    this.status = status;
    this.reason = reason;
    this.detail = detail;
  }
}

/** A resource name the cluster does not serve (--include-resources, --exclude-resources, ...). */
export class UnknownResourceError extends Error {
  override readonly name = 'UnknownResourceError';
  readonly input: string;
  constructor(input: string, reason: string) {
    super(`unknown resource "${input}": ${reason}`);
    this.input = input;
  }
}
