// A fault-injecting HTTPS proxy in front of the testbed's real API server. It serves with the API
// server's own certificate (so clients trust it through the testbed CA), forwards every request with the
// admin client certificate, and lets a test answer chosen requests itself: a status (429 with
// Retry-After, 503...) or a dropped connection, or hold one back (`wait`: decided again once the promise
// settles). Everything it does not intercept is the real server. It records when each request came and
// what it answered itself, so that a test can check that clients waited as long as a 429's Retry-After
// said (retryAfterViolations); Throttle answers 429 as an API server over its max in-flight requests
// does. startStoreFaultProxy is its like in
// front of an object store (MinIO), whose requests it can stall as a stopped process does, or answer with
// S3's 503 SlowDown as a throttling service does.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { testbedEnv } from './testbed.ts';

export type Fault =
  { status: number; retryAfterSeconds?: number } | { wait: Promise<unknown> } | 'reset' | undefined;

/** One request the proxy saw. */
export interface ProxiedRequest {
  /** "METHOD path", as in `seen`. */
  what: string;
  /** When it came, in milliseconds of the proxy's clock (performance.now). */
  at: number;
  /** The status the proxy answered itself, and its Retry-After; absent when the real server answered. */
  status?: number;
  retryAfterSeconds?: number;
  /**
   * The SHA-256 of its body, once read: concurrent creates in one collection share "METHOD path", and
   * only a request with the same body is the same request asked again.
   */
  body?: string;
}

export interface FaultProxy {
  /** A kubeconfig (in memory) that talks to the proxy. */
  kubeConfig: KubeConfig;
  /** Every request the proxy saw, in order, as "METHOD path". */
  seen: string[];
  /** The same requests with when they came and what the proxy answered itself. */
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * Answers 429 with a Retry-After header, as an API server over its max in-flight requests does: to about
 * `fraction` of the requests, or to every one while `all` is set. Requests `spare` picks always pass.
 * Its `decide` is a startFaultProxy decision (or a part of one).
 */
export class Throttle {
  /** While true, every request (but the spared) is answered 429. */
  all = false;
  /** How many requests it answered 429. */
  throttled = 0;
  readonly #retryAfterSeconds: number;
  readonly #fraction: number;
  readonly #random: () => number;
  readonly #spare: (req: IncomingMessage) => boolean;

  constructor(options: {
    retryAfterSeconds: number;
    fraction?: number;
    random?: () => number;
    spare?: (req: IncomingMessage) => boolean;
  }) {
    this.#retryAfterSeconds = options.retryAfterSeconds;
    this.#fraction = options.fraction ?? 0;
    this.#random = options.random ?? Math.random;
    this.#spare = options.spare ?? (() => false);
  }

  decide(req: IncomingMessage): Fault {
    if (this.#spare(req) || !(this.all || this.#random() < this.#fraction)) return undefined;
    this.throttled += 1;
    return { status: 429, retryAfterSeconds: this.#retryAfterSeconds };
  }
}

/**
 * The requests that came again sooner than the Retry-After of a 429 the proxy gave the same request (the
 * same "METHOD path", query included, and body) said, each as "what: again after N ms, Retry-After M s". Times are the
 * proxy's own, so this checks the clients' behaviour, not how long the test took.
 */
export function retryAfterViolations(requests: readonly ProxiedRequest[]): string[] {
  const violations: string[] = [];
  requests.forEach((request, i) => {
    if (request.status !== 429 || request.retryAfterSeconds === undefined) return;
    const next = requests.slice(i + 1).find((r) => r.what === request.what && r.body === request.body);
    if (next && next.at - request.at < request.retryAfterSeconds * 1000)
      violations.push(
        `${request.what}: again after ${Math.round(next.at - request.at)} ms, Retry-After ${request.retryAfterSeconds} s`,
      );
  });
  return violations;
}

export async function startFaultProxy(
  decide: (req: IncomingMessage, index: number) => Fault,
): Promise<FaultProxy> {
  const pki = join(testbedEnv('CAIRN_TESTBED_STATE'), 'cluster-a', 'pki');
  const admin = new KubeConfig();
  admin.loadFromFile(testbedEnv('KUBECONFIG'));
  const upstream = new URL(admin.getCurrentCluster()?.server ?? '');
  const ca = readFileSync(join(pki, 'ca.crt'));
  const cert = readFileSync(join(pki, 'admin.crt'));
  const key = readFileSync(join(pki, 'admin.key'));
  const seen: string[] = [];
  const requests: ProxiedRequest[] = [];

  const server: Server = createServer(
    { cert: readFileSync(join(pki, 'apiserver.crt')), key: readFileSync(join(pki, 'apiserver.key')) },
    function handle(req: IncomingMessage, res: ServerResponse, index = seen.length): void {
      const at = performance.now();
      const fault = decide(req, index);
      if (index === seen.length) {
        seen.push(`${req.method} ${req.url}`);
        requests.push({ what: `${req.method} ${req.url}`, at });
      }
      if (fault && typeof fault === 'object' && 'wait' in fault) {
        void fault.wait.then(() => handle(req, res, index));
        return;
      }
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      const record = requests[index];
      const body = createHash('sha256');
      req.on('data', (chunk: Buffer) => body.update(chunk));
      req.on('end', () => {
        if (record) record.body = body.digest('hex');
      });
      if (fault) {
        req.resume();
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (record) record.status = fault.status;
        if (fault.retryAfterSeconds !== undefined) {
          headers['Retry-After'] = String(fault.retryAfterSeconds);
          if (record) record.retryAfterSeconds = fault.retryAfterSeconds;
        }
        res.writeHead(fault.status, headers);
        res.end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: 'injected by the test',
            code: fault.status,
          }),
        );
        return;
      }
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          ca,
          cert,
          key,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      // A client that goes away (a watch stopped) ends the forwarded request too, not only its side.
      res.on('close', () => forward.destroy());
      req.pipe(forward);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'proxy', server: `https://127.0.0.1:${port}`, caData: ca.toString('base64') }],
    users: [{ name: 'proxy' }],
    contexts: [{ name: 'proxy', cluster: 'proxy', user: 'proxy' }],
    currentContext: 'proxy',
  });
  return {
    kubeConfig,
    seen,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * What the store proxy does with a request: pass it on (undefined), `stall` it as a stopped process
 * (SIGSTOP) or a black-holed endpoint does: the connection is accepted, nothing of the request's body is
 * read and no answer comes, until the proxy closes; or answer `slowDown`: the request's body is read and
 * S3's throttling answer comes back (503 SlowDown, the error XML), as from AWS under a burst of requests;
 * or hold it as `stall` does and pass it on once `wait` settles (a store that stops and comes back).
 */
export type StoreFault = 'stall' | 'slowDown' | { wait: Promise<unknown> } | undefined;

export interface StoreFaultProxy {
  /** The proxy's URL, to use as the store's endpoint (`s3Url`). */
  endpoint: string;
  /** Every request the proxy saw, in order, as "METHOD path", those it stalled, and those it slowed down. */
  seen: string[];
  stalled: string[];
  slowedDown: string[];
  close(): Promise<void>;
}

/** S3's answer to a client to slow down, as AWS sends it. */
function slowDown(req: IncomingMessage, res: ServerResponse): void {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>' +
    '<Message>Please reduce your request rate.</Message>' +
    `<Resource>${req.url?.split('?')[0] ?? ''}</Resource><RequestId>cairn-fault-proxy</RequestId></Error>`;
  // The body is read first: answering before it is taken would reset the client's upload instead.
  req.resume();
  req.once('end', () => {
    res.writeHead(503, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/**
 * A plain-HTTP proxy in front of an object store of the testbed (MinIO: `upstream` is its endpoint) that
 * stalls or slows down the requests `decide` picks and forwards the others unchanged, Host header
 * included (so S3 signatures made for the proxy's address hold). Stalled connections are dropped by
 * close().
 */
export async function startStoreFaultProxy(
  upstream: string,
  decide: (req: IncomingMessage, index: number) => StoreFault,
): Promise<StoreFaultProxy> {
  const target = new URL(upstream);
  const seen: string[] = [];
  const stalled: string[] = [];
  const slowedDown: string[] = [];
  const held = new Set<IncomingMessage>();
  const server = createHttpServer((req, res) => {
    const what = `${req.method} ${req.url}`;
    const fault = decide(req, seen.length);
    seen.push(what);
    if (fault === 'stall' || typeof fault === 'object') {
      stalled.push(what);
      req.pause();
      held.add(req);
      req.socket.once('close', () => held.delete(req));
      if (typeof fault === 'object')
        void fault.wait.then(() => {
          if (held.delete(req)) pass(req, res); // else its client went away meanwhile
        });
      return;
    }
    if (fault === 'slowDown') {
      slowedDown.push(what);
      slowDown(req, res);
      return;
    }
    pass(req, res);
  });
  function pass(req: IncomingMessage, res: ServerResponse): void {
    const forward = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    stalled,
    slowedDown,
    close: () => {
      for (const req of held) req.socket.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
