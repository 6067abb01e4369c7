// Runs the `cairn` command as a user runs it: a separate process started from bin/cairn.js.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cairnBin = fileURLToPath(new URL('../../bin/cairn.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cairn(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cairnBin, ...args], { env, cwd: repoRoot }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment without any kubeconfig: no KUBECONFIG and a HOME with no ~/.kube/config. */
export function envWithoutCluster(home: string): Record<string, string | undefined> {
  const { KUBECONFIG: _a, KUBECONFIG_B: _b, KUBERNETES_SERVICE_HOST: _c, ...rest } = process.env;
  return { ...rest, HOME: home };
}
