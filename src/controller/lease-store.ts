// Where leader election keeps its Lease: a small interface with the API server's semantics (a read, a
// create that fails when the lease exists, an update guarded by the resourceVersion last read), the real
// implementation on coordination.k8s.io/v1, and an in-memory reference beside it. Both pass the same
// conformance suite (test/conformance/lease-store.ts), which is what lets leader election's timing be
// tested on an injected clock, in unit tests, with the reference store.
import { KubeApiError, type KubeClient } from '../kube/index.ts';

/** The spec of a coordination.k8s.io/v1 Lease, as leader election uses it. */
export interface LeaseSpec {
  holderIdentity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  acquireTime?: string | undefined;
  renewTime?: string | undefined;
  leaseTransitions?: number | undefined;
}

/** A lease as read or written: its spec and the resourceVersion that guards the next write. */
export interface StoredLease {
  resourceVersion: string;
  spec: LeaseSpec;
}

/** A create found the lease already there, or an update was made over a version no longer current. */
export class LeaseConflictError extends Error {
  override readonly name = 'LeaseConflictError';
}

export interface LeaseStore {
  /** The lease, or undefined when it does not exist. */
  get(signal: AbortSignal): Promise<StoredLease | undefined>;
  /** Creates the lease; LeaseConflictError when it exists. */
  create(spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease>;
  /** Replaces the spec of the lease at `resourceVersion`; LeaseConflictError when it has changed since. */
  update(resourceVersion: string, spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease>;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [field: string]: unknown };
  spec?: LeaseSpec;
}

/** The Lease `namespace/name` on the API server. */
export class KubeLeaseStore implements LeaseStore {
  /** The lease object last read or written: an update keeps its other fields (labels, owners). */
  #last: Lease | undefined;

  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly name: string;
  constructor(client: KubeClient, namespace: string, name: string) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`;
  }

  #stored(lease: Lease): StoredLease {
    this.#last = lease;
    return { resourceVersion: lease.metadata.resourceVersion ?? '', spec: lease.spec ?? {} };
  }

  async get(signal: AbortSignal): Promise<StoredLease | undefined> {
    try {
      return this.#stored(await this.client.json<Lease>({ path: this.#path, signal }));
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async create(spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease> {
    const { namespace, name } = this;
    const body: Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace },
      spec,
    };
    try {
      return this.#stored(
        await this.client.json<Lease>({
          method: 'POST',
          path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
          signal,
          body,
        }),
      );
    } catch (error) {
      throw conflictOr(error);
    }
  }

  async update(resourceVersion: string, spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease> {
    const { namespace, name } = this;
    const base: Lease = this.#last ?? {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace },
    };
    try {
      return this.#stored(
        await this.client.json<Lease>({
          method: 'PUT',
          path: this.#path,
          signal,
          body: { ...base, metadata: { ...base.metadata, namespace, name, resourceVersion }, spec },
        }),
      );
    } catch (error) {
      throw conflictOr(error);
    }
  }
}

function conflictOr(error: unknown): unknown {
  return error instanceof KubeApiError && error.status === 409
    ? new LeaseConflictError(error.message, { cause: error })
    : error;
}

/**
 * The reference store: one lease in memory, with the API server's rules (a version that changes on every
 * write, conflicts on create and on stale updates).
 */
export class MemoryLeaseStore implements LeaseStore {
  #lease: StoredLease | undefined;
  #version = 0;

  get(signal: AbortSignal): Promise<StoredLease | undefined> {
    return this.#call(signal, () => this.#lease && structuredClone(this.#lease));
  }

  create(spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease> {
    return this.#call(signal, () => {
      if (this.#lease) throw new LeaseConflictError('the lease already exists');
      return this.#write(spec);
    });
  }

  update(resourceVersion: string, spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease> {
    return this.#call(signal, () => {
      if (!this.#lease) throw new Error('the lease does not exist');
      if (this.#lease.resourceVersion !== resourceVersion)
        throw new LeaseConflictError(`the lease changed since version ${resourceVersion}`);
      return this.#write(spec);
    });
  }

  #write(spec: LeaseSpec): StoredLease {
    this.#lease = { resourceVersion: String(++this.#version), spec: structuredClone(spec) };
    return structuredClone(this.#lease);
  }

  async #call<T>(signal: AbortSignal, body: () => T): Promise<T> {
    await Promise.resolve();
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    return body();
  }
}
