// Who calls the server over HTTP, and what they may do, asked of Kubernetes itself: the caller's bearer
// token goes to a TokenReview, each action to a SubjectAccessReview for that user, so RBAC as kubectl sees
// it is the only policy (the downloads of logs and results, and the dashboard, use it). Answers are kept
// for a few seconds, as the API server's own webhook authorizer does (allowed longer than denied), so a
// page that asks many questions costs few reviews; a token is kept by its hash, never as it is.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/index.ts';
import { systemClock, type Clock } from './clock.ts';

export interface User {
  username: string;
  uid?: string | undefined;
  groups: string[];
  extra?: Record<string, string[]> | undefined;
}

/** What a SubjectAccessReview asks: a verb on a resource (and subresource), in a namespace or cluster-wide. */
export interface ResourceAttributes {
  verb: string;
  /** The API group; '' for the core group. */
  group: string;
  resource: string;
  subresource?: string | undefined;
  /** Absent: cluster-wide (or every namespace, for a list). */
  namespace?: string | undefined;
  name?: string | undefined;
}

export interface Decision {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string | undefined;
}

/** The token was refused (401): missing, unknown, expired. */
export class UnauthenticatedError extends Error {
  override readonly name = 'UnauthenticatedError';
}

export interface AccessOptions {
  client: KubeClient;
  clock?: Clock | undefined;
  /** How long an authenticated token and an allowed action are believed. Default 10 s. */
  allowedTtlMs?: number | undefined;
  /** How long a refusal is believed (short: RBAC granted a moment ago should show soon). Default 2 s. */
  deniedTtlMs?: number | undefined;
}

interface TokenReview {
  status?: {
    authenticated?: boolean;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
    error?: string;
  };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

/** Entries kept at most, per cache: old ones go first when it is full. */
const MAX_ENTRIES = 10_000;

class TimedCache<T> {
  readonly #entries = new Map<string, { value: T; until: number }>();
  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.until > now) return entry.value;
    if (entry) this.#entries.delete(key);
    return undefined;
  }
  set(key: string, value: T, until: number): void {
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { value, until });
  }
}

export class Access {
  readonly #client: KubeClient;
  readonly #clock: Clock;
  readonly #allowedTtlMs: number;
  readonly #deniedTtlMs: number;
  readonly #users = new TimedCache<User>();
  readonly #decisions = new TimedCache<Decision>();

  constructor(options: AccessOptions) {
    this.#client = options.client;
    this.#clock = options.clock ?? systemClock;
    this.#allowedTtlMs = options.allowedTtlMs ?? 10_000;
    this.#deniedTtlMs = options.deniedTtlMs ?? 2_000;
  }

  /**
   * The user of an `Authorization: Bearer <token>` header. Rejects with UnauthenticatedError when there is
   * no token or the API server does not know it; with the API server's error when it cannot be asked.
   */
  async authenticate(authorization: string | undefined, signal?: AbortSignal): Promise<User> {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthenticatedError('a bearer token is needed (Authorization: Bearer <token>)');
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#clock.now();
    const known = this.#users.get(key, now);
    if (known) return known;
    const review = await this.#client.json<TokenReview>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      signal,
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username)
      throw new UnauthenticatedError(
        `the token is not valid${review.status?.error ? `: ${review.status.error}` : ''}`,
      );
    const found: User = {
      username: user.username,
      uid: user.uid,
      groups: user.groups ?? [],
      extra: user.extra,
    };
    this.#users.set(key, found, now + this.#allowedTtlMs);
    return found;
  }

  /** Whether `user` may do what `attributes` say, as RBAC (any authorizer of the cluster) answers. */
  async decide(user: User, attributes: ResourceAttributes, signal?: AbortSignal): Promise<Decision> {
    const key = JSON.stringify([user.username, user.uid, user.groups, user.extra, attributes]);
    const now = this.#clock.now();
    const known = this.#decisions.get(key, now);
    if (known) return known;
    const review = await this.#client.json<SubjectAccessReview>({
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups,
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: Object.fromEntries(
            Object.entries(attributes).filter(([, value]) => value !== undefined),
          ),
        },
      },
      signal,
    });
    const decision: Decision = { allowed: review.status?.allowed === true, reason: review.status?.reason };
    this.#decisions.set(key, decision, now + (decision.allowed ? this.#allowedTtlMs : this.#deniedTtlMs));
    return decision;
  }
}
