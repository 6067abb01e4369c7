// Starting, finding and stopping the testbed's server processes.
//
// Every server runs detached with its output in a log file, and is recorded by process id together
// with its start time (field 22 of /proc/<pid>/stat), so `down` never signals a recycled pid.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessRecord {
  name: string;
  pid: number;
  startTime: string;
  command: string[];
  log: string;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  log: string;
  env?: Record<string, string>;
  cwd?: string;
}

/** Starts a detached server process whose output goes to `log`. */
export function startProcess(options: StartOptions): ProcessRecord {
  const fd = openSync(options.log, 'a');
  try {
    const child = spawn(options.command, options.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not start ${options.name} (${options.command})`);
    child.unref();
    return {
      name: options.name,
      pid: child.pid,
      startTime: processStartTime(child.pid) ?? '',
      command: [options.command, ...options.args],
      log: options.log,
    };
  } finally {
    closeSync(fd);
  }
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether the recorded process is still the one we started (not exited, pid not recycled). */
export function isRunning(record: ProcessRecord): boolean {
  const startTime = processStartTime(record.pid);
  if (startTime === undefined || startTime !== record.startTime) return false;
  try {
    const state = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Resolves when it is gone. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!isRunning(record)) return;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(record)) {
    if (Date.now() > deadline) {
      process.kill(record.pid, 'SIGKILL');
      await sleep(200);
      if (isRunning(record)) throw new Error(`${record.name} (pid ${record.pid}) survived SIGKILL`);
      return;
    }
    await sleep(100);
  }
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export async function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `probe` until it returns true; fails with the tail of the log if the process dies or time runs out. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; process?: ProcessRecord },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (options.process && !isRunning(options.process)) {
      throw new Error(`${what} exited while starting; last log lines:\n${tail(options.process.log)}`);
    }
    if (Date.now() > deadline) {
      const log = options.process ? `; last log lines:\n${tail(options.process.log)}` : '';
      throw new Error(`${what} not ready after ${options.timeoutMs / 1000}s${log}`);
    }
    await sleep(250);
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
