// A fault-injecting HTTPS proxy in front of the testbed's real API server. It serves with the API
// server's own certificate (so clients trust it through the testbed CA), forwards every request with the
// admin client certificate, and lets a test answer chosen requests itself: a status (429 with
// Retry-After, 503...) or a dropped connection, or hold one back (`wait`: decided again once the promise
// settles). Everything it does not intercept is the real server. startStoreFaultProxy is its like in
// front of an object store (MinIO), whose requests it can stall as a stopped process does.
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

export interface FaultProxy {
  /** A kubeconfig (in memory) that talks to the proxy. */
  kubeConfig: KubeConfig;
  /** Every request the proxy saw, in order, as "METHOD path". */
  seen: string[];
  close(): Promise<void>;
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

  const server: Server = createServer(
    { cert: readFileSync(join(pki, 'apiserver.crt')), key: readFileSync(join(pki, 'apiserver.key')) },
    function handle(req: IncomingMessage, res: ServerResponse, index = seen.length): void {
      const fault = decide(req, index);
      if (index === seen.length) seen.push(`${req.method} ${req.url}`);
      if (fault && typeof fault === 'object' && 'wait' in fault) {
        void fault.wait.then(() => handle(req, res, index));
        return;
      }
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault) {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (fault.retryAfterSeconds !== undefined) headers['Retry-After'] = String(fault.retryAfterSeconds);
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * What the store proxy does with a request: pass it on (undefined), or `stall` it as a stopped process
 * (SIGSTOP) or a black-holed endpoint does: the connection is accepted, nothing of the request's body is
 * read and no answer comes, until the proxy closes.
 */
export type StoreFault = 'stall' | undefined;

export interface StoreFaultProxy {
  /** The proxy's URL, to use as the store's endpoint (`s3Url`). */
  endpoint: string;
  /** Every request the proxy saw, in order, as "METHOD path", and those it stalled. */
  seen: string[];
  stalled: string[];
  close(): Promise<void>;
}

/**
 * A plain-HTTP proxy in front of an object store of the testbed (MinIO: `upstream` is its endpoint) that
 * stalls the requests `decide` picks and forwards the others unchanged, Host header included (so S3
 * signatures made for the proxy's address hold). Stalled connections are dropped by close().
 */
export async function startStoreFaultProxy(
  upstream: string,
  decide: (req: IncomingMessage, index: number) => StoreFault,
): Promise<StoreFaultProxy> {
  const target = new URL(upstream);
  const seen: string[] = [];
  const stalled: string[] = [];
  const held = new Set<IncomingMessage>();
  const server = createHttpServer((req, res) => {
    const what = `${req.method} ${req.url}`;
    const fault = decide(req, seen.length);
    seen.push(what);
    if (fault === 'stall') {
      stalled.push(what);
      req.pause();
      held.add(req);
      req.socket.once('close', () => held.delete(req));
      return;
    }
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
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    stalled,
    close: () => {
      for (const req of held) req.socket.destroy();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
