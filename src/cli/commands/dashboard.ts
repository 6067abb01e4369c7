// `cairn dashboard`: opens the server's web dashboard for the user of the kubeconfig, through a local
// proxy on the loopback address that adds the user's bearer token to every request (as `kubectl proxy`
// does), so that the browser never holds it. The server decides what the user sees and does by that token
// (TokenReview and SubjectAccessReview). Runs until Ctrl-C.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as requestTls } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { CliIO } from '../io.ts';
import { existingFile, kubeConfigOf, namespaceName } from '../options.ts';
import type { ServerTrust } from '../server-trust.ts';

interface DashboardOptions {
  serverUrl: string;
  address: string;
  port: number;
  token?: string;
  tokenFile?: string;
  serverCaFile?: string;
  namespace: string;
  open: boolean;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError(`"${value}" is not a port (0 to 65535; 0 picks a free one)`);
  return port;
}

function parseServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (e.g. https://127.0.0.1:8085)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError(`"${value}": the server's URL is http:// or https://`);
  return url.origin;
}

/** Headers a proxy must not pass on (RFC 9110 §7.6.1), plus the caller's own credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'cookie',
]);

export function dashboardCommand(io: CliIO): Command {
  return new Command('dashboard')
    .description("Open the server's web dashboard, acting as you (a local proxy adds your bearer token)")
    .addOption(
      new Option('--server-url <url>', "the server's listener (its --metrics-address)")
        .argParser(parseServerUrl)
        .default('https://127.0.0.1:8085'),
    )
    .option(
      '-n, --namespace <ns>',
      "the server's namespace: where its CA is published",
      namespaceName,
      'cairn',
    )
    .option('--address <ip>', 'where the local proxy listens (a loopback address)', '127.0.0.1')
    .option('--port <port>', 'the local port (0 picks a free one)', parsePort, 8086)
    .option('--token <token>', "the bearer token to act with (default: the kubeconfig user's)")
    .option('--token-file <file>', 'read the bearer token from a file', existingFile)
    .option(
      '--server-ca-file <file>',
      "trust this CA (PEM) for the server's certificate (default: the one in ConfigMap cairn-ca of its namespace)",
      existingFile,
    )
    .option('--no-open', 'print the URL; do not open a browser')
    .addHelpText(
      'after',
      `
The dashboard shows what your token may see (RBAC, asked of the API server): every schedule, backup,
location and restore for a user who may list Backups in the server's namespace; only the backups of your
namespaces otherwise. The proxy listens on a loopback address only; anyone on this machine who can reach
it acts as you, as with \`kubectl proxy\`.

The token goes to the server over HTTPS (plain HTTP only to a loopback address). The server's certificate
is verified against the CA it publishes in the ConfigMap cairn-ca of its namespace (-n), read with your
kubeconfig, unless --server-ca-file is given.

For a server in a cluster, forward its port first: kubectl -n cairn port-forward deploy/cairn 8085.

Examples:
  cairn dashboard
  cairn dashboard --server-url https://127.0.0.1:8085 -n cairn --no-open
  cairn dashboard --token-file ~/.kube/cairn-viewer.token --port 9000`,
    )
    .action(async (options: DashboardOptions, command: Command) => {
      if (!['127.0.0.1', '::1', 'localhost'].includes(options.address))
        throw new Error(
          `--address ${options.address}: the proxy acts as you, so it listens on a loopback address only`,
        );
      const { serverTrust } = await import('../server-trust.ts');
      const trust = await serverTrust({
        serverUrl: options.serverUrl,
        flag: '--server-url',
        namespace: options.namespace,
        caFile: options.serverCaFile,
        kubeConfig: () => kubeConfigOf(io, command),
      });
      const token = await tokenOf(io, command, options);
      const proxy = createServer((req, res) => forward(trust, token, req, res));
      await new Promise<void>((resolve, reject) => {
        proxy.once('error', reject);
        proxy.listen(options.port, options.address, () => resolve());
      });
      const { port } = proxy.address() as AddressInfo;
      const host = options.address.includes(':') ? `[${options.address}]` : options.address;
      const url = `http://${host}:${port}/ui/`;
      io.stderr.write(`Dashboard of ${options.serverUrl}: ${url} (Ctrl-C to stop)\n`);
      if (options.open) openBrowser(url);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}

async function tokenOf(io: CliIO, command: Command, options: DashboardOptions): Promise<string> {
  if (options.token && options.tokenFile) throw new Error('--token and --token-file exclude each other');
  if (options.token) return options.token;
  if (options.tokenFile) return (await readOption('--token-file', options.tokenFile)).toString('utf8').trim();
  const { bearerTokenOf } = await import('../server-mode.ts');
  return bearerTokenOf(await kubeConfigOf(io, command));
}

async function readOption(flag: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new Error(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
}

/** One request to the server, with the token; the answer streamed back (live updates stay open). */
function forward(trust: ServerTrust, token: string, req: IncomingMessage, res: ServerResponse): void {
  const { url: target, ca } = trust;
  const path = req.url ?? '/';
  if (path === '/' || path === '') {
    res.writeHead(302, { Location: '/ui/' }).end();
    return;
  }
  if (!path.startsWith('/ui')) {
    res
      .writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end('only the dashboard (/ui/) is proxied\n');
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers))
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  headers.authorization = `Bearer ${token}`;
  const send = target.protocol === 'https:' ? requestTls : request;
  const upstream = send(
    new URL(path, target),
    { method: req.method, headers, ...(ca ? { ca } : {}) },
    (answer) => {
      const passed: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (value !== undefined && !HOP_BY_HOP.has(name)) passed[name] = value;
      res.writeHead(answer.statusCode ?? 502, passed);
      answer.pipe(res);
    },
  );
  upstream.on('error', (error) => {
    if (res.headersSent) res.destroy();
    else
      res.writeHead(502, { 'Content-Type': 'application/json; charset=utf-8' }).end(
        JSON.stringify({
          error: `cannot reach the server at ${target.origin}: ${error.message} (verified against ${trust.against})`,
        }),
      );
  });
  res.on('close', () => upstream.destroy());
  req.pipe(upstream);
}

function openBrowser(url: string): void {
  const opener =
    process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  // No browser (a server, CI): the URL printed above is the way in.
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}
