// A command in a running container, through the pods/exec subresource over WebSocket (the Kubernetes
// client library's Exec, as kubectl exec does): stdout and stderr captured up to a limit, the exit code
// from the status the API server sends on the error channel, and a timeout after which the connection is
// closed. Closing does not stop the command in the container (Kubernetes has no way to): the result says
// so. Used by backup and restore hooks.
import { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { library } from './config.ts';

export interface ExecOptions {
  namespace: string;
  pod: string;
  container: string;
  /** The command and its arguments, run without a shell. */
  command: string[];
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept (the rest counted, not kept). Default 4 KiB each. */
  maxOutputBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ExecResult {
  /** The command's exit code; undefined when it did not run to an end that gave one. */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Output beyond maxOutputBytes was left out. */
  truncated: boolean;
  durationMs: number;
  /** No end within timeoutMs: the connection was closed (the command may still be running). */
  timedOut: boolean;
  /**
   * Why the command did not run or gave no exit code, as the API server or kubelet said it (no such pod
   * or container, the executable not found, the container not running); undefined after an exit code.
   */
  failure: string | undefined;
}

/** Keeps the first `max` bytes written. */
class Capture extends Writable {
  readonly #max: number;
  readonly #parts: Buffer[] = [];
  #kept = 0;
  truncated = false;

  constructor(max: number) {
    super();
    this.#max = max;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const room = this.#max - this.#kept;
    if (chunk.length > room) this.truncated = true;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      this.#parts.push(part);
      this.#kept += part.length;
    }
    done();
  }

  text(): string {
    return Buffer.concat(this.#parts).toString('utf8');
  }
}

/** What is used of the library's WebSocket (its type comes from isomorphic-ws, not a dependency here). */
interface ExecSocket {
  close(): void;
  on(event: 'close' | 'error', listener: (arg?: unknown) => void): void;
}

interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** Runs `options.command` in the container; never rejects for the command's own failure. */
export async function execInContainer(kc: KubeConfig, options: ExecOptions): Promise<ExecResult> {
  const max = options.maxOutputBytes ?? 4096;
  const stdout = new Capture(max);
  const stderr = new Capture(max);
  const started = performance.now();
  const { Exec } = library();
  let status: ExecStatus | undefined;
  let socket: ExecSocket | undefined;
  return new Promise<ExecResult>((resolve) => {
    let done = false;
    const finish = (end: { timedOut?: boolean; failure?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      let exitCode: number | undefined;
      let failure = end.failure;
      if (status?.status === 'Success') exitCode = 0;
      else if (status) {
        const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
        const code = cause?.message !== undefined ? Number(cause.message) : NaN;
        if (Number.isInteger(code)) exitCode = code;
        else failure ??= status.message ?? status.reason ?? 'the command failed without an exit code';
      } else if (!end.timedOut) failure ??= 'the connection closed before the command ended';
      resolve({
        exitCode,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncated: stdout.truncated || stderr.truncated,
        durationMs: Math.round(performance.now() - started),
        timedOut: end.timedOut ?? false,
        failure: end.timedOut ? undefined : failure,
      });
      socket?.close();
    };
    // setTimeout takes at most 2^31 - 1 ms (24.8 days; more fires at once).
    const timer = setTimeout(() => finish({ timedOut: true }), Math.min(options.timeoutMs, 2 ** 31 - 1));
    const onAbort = () =>
      finish({ failure: `stopped: ${(options.signal?.reason as Error | undefined)?.message ?? 'aborted'}` });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const opening: Promise<unknown> = new Exec(kc).exec(
      options.namespace,
      options.pod,
      options.container,
      options.command,
      stdout,
      stderr,
      null,
      false,
      (s) => {
        // The status comes last on the connection, after all output: the command's end (the close
        // handshake that follows can be slow, and must not turn an exit into a timeout).
        status = s;
        finish({});
      },
    );
    opening.then(
      (ws) => {
        const opened = ws as ExecSocket;
        socket = opened;
        if (done) return opened.close();
        opened.on('close', () => finish({}));
        opened.on('error', (error) => finish({ failure: (error as Error).message }));
      },
      (error: unknown) => finish({ failure: execError(error) }),
    );
  });
}

/**
 * The API server's answer to a refused exec, as one line. The WebSocket handshake gives only the status
 * code ("Unexpected server response: 404"), so the usual meanings are spelled out.
 */
function execError(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
  const status = /Unexpected server response: (\d+)/.exec(text)?.[1];
  switch (status) {
    case '400':
      return 'the API server refused it (HTTP 400): the container does not exist in the pod or is not running';
    case '401':
    case '403':
      return `the API server refused it (HTTP ${status}): no permission to create pods/exec in the namespace`;
    case '404':
      return 'the API server refused it (HTTP 404): the pod does not exist (any more)';
    default:
      return text;
  }
}

/** `["pg_dump","-f","/x"]`, shortened for messages. */
export function formatCommand(command: readonly string[]): string {
  const text = JSON.stringify(command);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/** The last non-empty line of a stream's output, shortened: what most commands say last about a failure. */
function lastLine(text: string): string | undefined {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  return line === undefined ? undefined : line.length > 300 ? `${line.slice(0, 299)}…` : line;
}

/**
 * Why a command run by execInContainer failed, to follow "hook <command> in pod <pod> container <c>":
 * it did not end in time, exited with another code than 0 (126 and 127 explained, with the last line it
 * said), or could not be run (as the API server or kubelet said). Undefined when it succeeded.
 */
export function execFailureText(ran: ExecResult, timeoutMs: number): string | undefined {
  if (ran.exitCode === 0 && !ran.timedOut) return undefined;
  const said = lastLine(ran.stderr) ?? lastLine(ran.stdout);
  if (ran.timedOut)
    return `did not end within ${timeoutMs / 1000} s (the connection was closed; the command may still be running in the container)`;
  if (ran.exitCode !== undefined)
    return `exited with code ${ran.exitCode}${ran.exitCode === 126 || ran.exitCode === 127 ? ' (the command was not found or cannot be run in the container)' : ''}${said ? `: ${said}` : ''}`;
  return `could not be run: ${ran.failure ?? 'no reason given'}`;
}
