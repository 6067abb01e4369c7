// Runs a command as its own node process and measures it: wall time, peak RSS (reported by bench/rss.js,
// preloaded), and the machine's load when it ended (other work disturbs the figures).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
  /** The process's own CPU time (user + system), seconds, its children and threads included. */
  cpuSeconds: number;
  /** How busy the machine's cores were during the run, 0-1 (every process: API server, etcd, MinIO...). */
  machineBusy: number;
}

/** The machine's busy and total CPU ticks so far, from /proc/stat (Linux). */
function machineTicks(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/** `node --import bench/rss.js <command...>` in the repository, with `extraEnv` over this environment. */
export function measure(command: string[], extraEnv: Record<string, string> = {}): Promise<Measured> {
  const started = performance.now();
  const ticks = machineTicks();
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
        const cpu = /BENCH_CPU_US=(\d+)/.exec(stderr);
        const after = machineTicks();
        resolve({
          stdout,
          seconds,
          maxRssMb: rss ? Number(rss[1]) / 1024 : NaN,
          load: loadavg()[0] ?? NaN,
          cpuSeconds: cpu ? Number(cpu[1]) / 1e6 : NaN,
          machineBusy: (after.busy - ticks.busy) / (after.total - ticks.total),
        });
      },
    );
  });
}
