// A fault-injecting HTTPS proxy in front of the testbed's real API server. It serves with the API
// server's own certificate (so clients trust it through the testbed CA), forwards every request with the
// admin client certificate, and lets a test answer chosen requests itself: a status (429 with
// Retry-After, 503...) or a dropped connection. Everything it does not intercept is the real server.
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { testbedEnv } from './testbed.ts';

export type Fault = { status: number; retryAfterSeconds?: number } | 'reset' | undefined;

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
    (req: IncomingMessage, res: ServerResponse) => {
      const fault = decide(req, seen.length);
      seen.push(`${req.method} ${req.url}`);
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
