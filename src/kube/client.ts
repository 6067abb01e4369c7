// A small REST client for the Kubernetes API on top of a kubeconfig's credentials.
//
// Cairn talks to the API server with raw paths (lists at an exact resourceVersion, discovery of every
// group, paged lists of any resource), so this client speaks paths and JSON rather than generated types.
import { createHash } from 'node:crypto';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { ClusterUnreachableError, KubeApiError, KubeConfigError } from './errors.ts';
import { execInContainer, type ExecOptions, type ExecResult } from './exec.ts';
import { RateLimiter } from './rate-limit.ts';
import { backoffMs, type RetryOptions } from '../api/index.ts';
import { defaultRetry, isRetryable, retryAfterMs } from './retry.ts';

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** The Accept header; application/json unless given. */
  accept?: string;
  signal?: AbortSignal | undefined;
}

export interface KubeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** The answer of GET /version. */
export interface ServerVersion {
  major: string;
  minor: string;
  gitVersion: string;
  gitCommit: string;
  buildDate: string;
  goVersion: string;
  platform: string;
}

interface StatusObject {
  kind?: string;
  reason?: string;
  message?: string;
}

function abortReason(signal: AbortSignal | undefined, fallback: Error): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : fallback;
}

/** The KubeApiError for an answer other than 2xx, with the reason and message of its Status body. */
function apiError(req: KubeRequest, status: number, body: Buffer): KubeApiError {
  let parsed: StatusObject;
  try {
    parsed = JSON.parse(body.toString('utf8')) as StatusObject;
  } catch {
    parsed = { message: body.toString('utf8').slice(0, 200) };
  }
  return new KubeApiError(
    req.method ?? 'GET',
    req.path,
    status,
    parsed.reason,
    parsed.message ?? 'no message',
  );
}

export interface KubeClientOptions {
  /** Client-side rate limit (--client-qps, --client-burst). Default: 100 requests/s, bursts of 200. */
  qps?: number | undefined;
  burst?: number | undefined;
  retry?: RetryOptions | undefined;
  /** Told of every retry: what failed and how long the client waits. */
  onRetry?: ((event: RetryEvent) => void) | undefined;
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

export interface RetryEvent {
  method: string;
  path: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

/** A keep-alive HTTPS agent that counts the connections it opens (KubeClient.connectionsOpened). */
class PooledAgent extends HttpsAgent {
  opened = 0;
  override createConnection(...args: Parameters<HttpsAgent['createConnection']>) {
    this.opened += 1;
    return super.createConnection(...args);
  }
}

export const defaultClientQps = 100;
export const defaultClientBurst = 200;

export class KubeClient {
  readonly server: string;
  private readonly kc: KubeConfig;
  private readonly limiter: RateLimiter;
  private readonly retry: RetryOptions;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** One connection pool per set of TLS credentials (they change only when the kubeconfig's do). */
  private readonly agents = new Map<string, HttpAgent>();
  private lastTls: { values: unknown[]; agent: HttpAgent | undefined } | undefined;
  /** Whether a server that cannot be reached is waited for rather than counted against the tries. */
  private waitsForServer = false;
  /**
   * The paths the server answered with Retry-After: until when (performance.now) and the send that was
   * told. The server asked this client to wait, not only that request: another request for the path (a
   * lease campaign after a throttled renewal, a watch after a throttled one) waits as well. Shared with
   * waitingForServer()'s copy.
   */
  private readonly throttled = new Map<string, { until: number; by: object }>();

  constructor(kc: KubeConfig, options: KubeClientOptions = {}) {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new KubeConfigError('the kubeconfig has no current cluster');
    this.kc = kc;
    this.server = cluster.server.replace(/\/+$/, '');
    this.sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, signal ? { signal } : {}));
    this.limiter = new RateLimiter({
      qps: options.qps ?? defaultClientQps,
      burst: options.burst ?? defaultClientBurst,
      sleep: this.sleep,
    });
    this.retry = options.retry ?? defaultRetry;
    this.onRetry = options.onRetry;
  }

  /**
   * This client (its credentials, rate limit and connections) waiting out an API server that cannot be
   * reached, as during a control-plane upgrade: a request whose connection fails, where repeating it is
   * safe (isRetryable), is tried again, at most `maxDelayMs` apart, until its signal aborts; only the
   * server's answers count against the tries, so an aggregated API that answers 503 still fails in the
   * usual time. `onRetry` is told of every wait. For work that must outlive an outage (the server's
   * backups); everything else fails fast. Closing it closes this client's connections.
   */
  waitingForServer(onRetry?: (event: RetryEvent) => void): KubeClient {
    const patient = Object.create(KubeClient.prototype) as KubeClient;
    Object.assign(patient, this, { waitsForServer: true, onRetry: onRetry ?? this.onRetry });
    return patient;
  }

  /** Runs a command in a running container (pods/exec over WebSocket); see exec.ts. */
  exec(options: ExecOptions): Promise<ExecResult> {
    return execInContainer(this.kc, options);
  }

  /**
   * Sends a request under the client's rate limit, repeating it on 429 (after Retry-After), 503, other 5xx
   * and dropped connections where that is safe (see isRetryable). Resolves with the last answer, whatever
   * its status; rejects when the server cannot be reached after every try. A path the server gave this
   * client a Retry-After for is not asked again before that, by any request.
   */
  async send(req: KubeRequest): Promise<KubeResponse> {
    const method = req.method ?? 'GET';
    const self = {};
    let counted = 0;
    for (let attempt = 0; ; attempt++) {
      await this.retryAfterOf(req, self);
      await this.limiter.acquire(req.signal);
      let outcome: { status: number; response: KubeResponse } | { error: unknown };
      try {
        const response = await this.sendOnce(req);
        outcome = { status: response.status, response };
      } catch (error) {
        outcome = { error };
      }
      if (!(this.waitsForServer && 'error' in outcome)) counted += 1;
      const hint = 'response' in outcome ? retryAfterMs(outcome.response.headers['retry-after']) : undefined;
      if (hint !== undefined) this.noteRetryAfter(req.path, hint, self);
      const last = counted >= this.retry.attempts;
      if (last || req.signal?.aborted || !isRetryable(method, outcome)) {
        if ('response' in outcome) return outcome.response;
        throw outcome.error;
      }
      const delayMs = backoffMs(attempt + 1, this.retry, hint);
      const reason =
        'response' in outcome
          ? `status ${outcome.status}`
          : outcome.error instanceof Error
            ? outcome.error.message
            : String(outcome.error);
      this.onRetry?.({ method, path: req.path, attempt: attempt + 1, delayMs, reason });
      await this.sleep(delayMs, req.signal);
    }
  }

  /** One request, no retry; resolves with any HTTP status, rejects only when the server cannot be reached. */
  private async sendOnce(req: KubeRequest): Promise<KubeResponse> {
    const { url, options, payload } = await this.prepare(req);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<KubeResponse>((resolve, reject) => {
      const r = send(url, { ...options, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', (cause) => reject(new ClusterUnreachableError(this.server, { cause })));
      });
      r.on('error', (cause) => {
        const aborted = req.signal?.aborted === true;
        reject(
          aborted ? abortReason(req.signal, cause) : new ClusterUnreachableError(this.server, { cause }),
        );
      });
      r.end(payload);
    });
  }

  /**
   * Opens a streaming request (a watch) under the client's rate limit, with the same credentials and
   * connection pool as send, and resolves with the response as soon as its headers arrive. Never
   * repeated: the caller decides what a broken stream means. A status other than 2xx rejects with
   * KubeApiError carrying the server's reason and message. The caller reads the response to its end or
   * destroys it; aborting req.signal destroys it too.
   */
  async stream(req: KubeRequest): Promise<IncomingMessage> {
    const self = {};
    await this.retryAfterOf(req, self);
    await this.limiter.acquire(req.signal);
    const { url, options, payload } = await this.prepare(req);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = send(url, { ...options, ...(req.signal ? { signal: req.signal } : {}) }, resolve);
      r.on('error', (cause) => {
        const aborted = req.signal?.aborted === true;
        reject(
          aborted ? abortReason(req.signal, cause) : new ClusterUnreachableError(this.server, { cause }),
        );
      });
      r.end(payload);
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status <= 299) return res;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res) chunks.push(chunk as Buffer);
    } catch (cause) {
      throw new ClusterUnreachableError(this.server, { cause });
    }
    // A stream is never repeated here, but whoever watches again waits as long as the server said.
    const hint = retryAfterMs(res.headers['retry-after']);
    if (hint !== undefined) this.noteRetryAfter(req.path, hint, self);
    throw apiError(req, status, Buffer.concat(chunks));
  }

  /** Waits out a Retry-After the server gave for the request's path, unless `self` was told it (and waited). */
  private async retryAfterOf(req: KubeRequest, self: object): Promise<void> {
    const told = this.throttled.get(req.path);
    if (told === undefined) return;
    const left = told.until - performance.now();
    if (left <= 0) this.throttled.delete(req.path);
    else if (told.by !== self) await this.sleep(Math.ceil(left), req.signal);
  }

  private noteRetryAfter(path: string, ms: number, by: object): void {
    const now = performance.now();
    // Paths never asked again would stay: the expired ones go whenever one is added.
    for (const [key, told] of this.throttled) if (told.until <= now) this.throttled.delete(key);
    const until = now + ms;
    if ((this.throttled.get(path)?.until ?? 0) < until) this.throttled.set(path, { until, by });
  }

  /** The URL, the options (credentials, pooled agent, headers) and the body of a request. */
  private async prepare(req: KubeRequest): Promise<{ url: URL; options: RequestOptions; payload?: Buffer }> {
    const url = new URL(this.server + req.path);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const options: RequestOptions = {
      method: req.method ?? 'GET',
      headers: { Accept: req.accept ?? 'application/json' },
    };
    await this.kc.applyToHTTPSOptions(options);
    options.agent = this.agentFor(options);
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      payload = Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body));
      options.headers = {
        ...options.headers,
        'Content-Type': req.contentType ?? 'application/json',
        'Content-Length': payload.length,
      };
    }
    return payload ? { url, options, payload } : { url, options };
  }

  /**
   * A keep-alive agent for these TLS options. The kubeconfig library builds a new agent for every
   * request, which costs a TCP connection and a TLS handshake per request; this keeps one pool per set
   * of credentials instead, so requests reuse connections. A proxy agent (proxy-url) is kept as built.
   */
  private agentFor(options: RequestOptions): HttpAgent | undefined {
    const tls = options as RequestOptions & Record<string, unknown>;
    const fields = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;
    // The same credentials as the previous request (compared byte for byte, cheaper than hashing): its agent.
    const values = fields.map((field) => tls[field]);
    const same = (a: unknown, b: unknown) =>
      a === b || (Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b));
    if (this.lastTls && values.every((value, i) => same(value, this.lastTls?.values[i])))
      return this.lastTls.agent;
    const hash = createHash('sha256');
    for (const field of fields) {
      const value = tls[field];
      hash.update(`${field}=`);
      for (const part of Array.isArray(value) ? (value as unknown[]) : [value]) {
        if (typeof part === 'string' || Buffer.isBuffer(part)) hash.update(part);
        else if (part !== undefined && part !== null) hash.update(JSON.stringify(part));
        hash.update(';');
      }
    }
    const key = hash.digest('hex');
    const known = this.agents.get(key);
    if (known) {
      this.lastTls = { values, agent: known };
      return known;
    }
    const built = options.agent;
    const agent =
      built instanceof HttpsAgent && built.constructor === HttpsAgent
        ? new PooledAgent({ ...built.options, keepAlive: true, maxSockets: 64 })
        : typeof built === 'boolean'
          ? undefined
          : built;
    if (agent) this.agents.set(key, agent);
    this.lastTls = { values, agent };
    return agent;
  }

  /** How many connections to the API server the client has opened: few, as they are reused. */
  get connectionsOpened(): number {
    let opened = 0;
    for (const agent of this.agents.values()) if (agent instanceof PooledAgent) opened += agent.opened;
    return opened;
  }

  /** Closes the idle connections (they never keep the process alive: Node unrefs idle sockets). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    this.lastTls = undefined;
  }

  /** Sends a request and parses the JSON answer; a non-2xx status becomes a KubeApiError. */
  async json<T>(req: KubeRequest): Promise<T> {
    const res = await this.ok(req);
    return JSON.parse(res.body.toString('utf8')) as T;
  }

  /** Sends a request; an answer other than 2xx throws KubeApiError with the server's reason and message. */
  async ok(req: KubeRequest): Promise<KubeResponse> {
    const res = await this.send(req);
    if (res.status < 200 || res.status > 299) throw apiError(req, res.status, res.body);
    return res;
  }

  serverVersion(options: { signal?: AbortSignal | undefined } = {}): Promise<ServerVersion> {
    return this.json<ServerVersion>({ path: '/version', signal: options.signal });
  }
}
