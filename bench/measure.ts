// Runs a command as its own node process and measures it: wall time, peak RSS (reported by bench/rss.js,
// preloaded), and the machine's load when it ended (other work disturbs the figures).
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface Measured {
  stdout: string;
  seconds: number;
  maxRssMb: number;
  /** The machine's 1-minute load average when the process ended. */
  load: number;
}

/** `node --import bench/rss.js <command...>` in the repository, with `extraEnv` over this environment. */
export function measure(command: string[], extraEnv: Record<string, string> = {}): Promise<Measured> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', join(root, 'bench', 'rss.js'), ...command],
      { cwd: root, env: { ...process.env, ...extraEnv }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const seconds = (performance.now() - started) / 1000;
        if (error) {
          reject(new Error(`${command.join(' ')} failed: ${stderr.slice(-2000)}`));
          return;
        }
        const rss = /BENCH_MAX_RSS_KB=(\d+)/.exec(stderr);
        resolve({ stdout, seconds, maxRssMb: rss ? Number(rss[1]) / 1024 : NaN, load: loadavg()[0] ?? NaN });
      },
    );
  });
}
