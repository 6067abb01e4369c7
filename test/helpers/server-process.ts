// `cairn server` and `cairn node-agent` as child processes, as users run them: tests that kill one with
// SIGKILL need a process to kill (startServer in server.ts runs the server inside the test's process).
import { spawn, type ChildProcess } from 'node:child_process';
import { cairnBin, repoRoot } from './cli.ts';
import { testbedNode } from './node.ts';
import { eventually, testbedEnv } from './testbed.ts';

export interface CairnProcess {
  child: ChildProcess;
  /** Everything it wrote to stderr so far (its log). */
  stderr: () => string;
  /** Resolves with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

function startCairn(args: string[]): CairnProcess {
  const child = spawn(process.execPath, [cairnBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: testbedEnv('KUBECONFIG') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (process.env.CAIRN_TEST_DEBUG) process.stderr.write(chunk);
  });
  return {
    child,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
}

export interface ServerProcess extends CairnProcess {
  /** The port of its plain-HTTP listener, once it listens. */
  port: Promise<string>;
}

/**
 * `cairn server` on cluster a in `namespace`, listening on a loopback port of its own with plain HTTP
 * (tests ask /readyz only), with `args` added (lease timings, client limits...).
 */
export function startServerProcess(namespace: string, identity: string, args: string[] = []): ServerProcess {
  const server = startCairn([
    'server',
    '--namespace',
    namespace,
    '--identity',
    identity,
    '--metrics-address',
    '127.0.0.1:0',
    '--insecure-http',
    ...args,
  ]);
  return {
    ...server,
    port: eventually(`${identity} to listen`, () =>
      Promise.resolve(/listening on 127\.0\.0\.1:(\d+)/.exec(server.stderr())?.[1]),
    ),
  };
}

/** Whether the server leads (its /readyz answers 200). */
export async function leads(server: ServerProcess): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${await server.port}/readyz`)).status === 200;
}

/** `cairn node-agent` for the testbed's node of cluster a, as a host process; resolves once it announced itself. */
export async function startNodeAgentProcess(namespace: string): Promise<CairnProcess> {
  const node = testbedNode('a');
  const agent = startCairn([
    'node-agent',
    '-n',
    namespace,
    '--node',
    node.name,
    '--kubelet-root',
    node.rootDir,
  ]);
  await eventually('the node agent to start', () =>
    Promise.resolve(agent.stderr().includes('node agent on node') ? true : undefined),
  );
  return agent;
}

/** SIGKILL: the process ends at once, nothing of it runs on (no cleanup, no lease released). */
export async function killHard(process: CairnProcess): Promise<void> {
  process.child.kill('SIGKILL');
  await process.exited;
}

/** SIGTERM, and waits until it exited. */
export async function stopProcess(process: CairnProcess): Promise<number | null> {
  if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGTERM');
  return process.exited;
}
