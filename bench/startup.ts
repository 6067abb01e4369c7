// `npm run bench -- startup [--runs 20] [--node PATH] [--bin PATH]`: how long `cairn` takes to start, each
// command a whole process as a user runs it, beside `node -e 0` (the floor: starting Node itself) measured
// in the same run. --node and --bin measure another node or another copy of cairn (an installed one, an
// older checkout) the same way.
//
// The commands take turns, run after run, so that a disturbed moment of the machine costs each of them
// alike; each is run once first, unmeasured (the file cache). No cluster: KUBECONFIG is unset and HOME,
// XDG_CONFIG_HOME and XDG_DATA_HOME point into an empty directory, so `cairn backup get` lists the embedded
// default location, which holds no backup. Then each command runs once more with a hook that counts the
// modules it loads.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
function flag(name: string): string | undefined {
  const index = argv.indexOf(name);
  if (index < 0) return undefined;
  const value = argv[index + 1];
  if (value === undefined) {
    console.error(`${name} needs a value`);
    process.exit(2);
  }
  return value;
}
const runs = Number(flag('--runs') ?? 20);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive whole number, got "${flag('--runs')}"`);
  process.exit(2);
}
const node = flag('--node') ?? process.execPath;
const cairn = flag('--bin') ?? join(root, 'bin', 'cairn.js');

const home = mkdtempSync(join(tmpdir(), 'cairn-bench-startup-'));
const { KUBECONFIG: _k, KUBECONFIG_B: _kb, KUBERNETES_SERVICE_HOST: _h, ...rest } = process.env;
const env = {
  ...rest,
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  XDG_DATA_HOME: join(home, 'data'),
};

interface Case {
  label: string;
  args: string[];
}
const cases: Case[] = [
  { label: 'node -e 0', args: ['-e', '0'] },
  { label: 'cairn version --client-only', args: [cairn, 'version', '--client-only'] },
  { label: 'cairn backup get (empty default location)', args: [cairn, 'backup', 'get'] },
  { label: 'cairn --help', args: [cairn, '--help'] },
];

function once(args: string[]): number {
  const started = performance.now();
  const result = spawnSync(node, args, { env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (result.status !== 0) {
    throw new Error(`${node} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  }
  if (/warning/i.test(result.stderr)) throw new Error(`${node} ${args.join(' ')} warned: ${result.stderr}`);
  return ms;
}

/** The modules a command loads (node: built-ins included), counted by a module hook. */
function modulesLoaded(args: string[]): string {
  const hook = `data:text/javascript,${encodeURIComponent(
    `import { registerHooks } from 'node:module'; import { writeSync } from 'node:fs'; let n = 0;
     registerHooks({ load(url, context, next) { n++; return next(url, context); } });
     process.on('exit', () => writeSync(2, 'BENCH_MODULES=' + n + '\\n'));`,
  )}`;
  const result = spawnSync(node, ['--import', hook, ...args], { env, encoding: 'utf8' });
  return /BENCH_MODULES=(\d+)/.exec(result.stderr)?.[1] ?? 'n/a'; // registerHooks needs Node.js 22.15
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

try {
  for (const c of cases) once(c.args);
  const times = new Map<Case, number[]>(cases.map((c) => [c, []]));
  const loadBefore = loadavg()[0]!;
  for (let run = 0; run < runs; run++) for (const c of cases) times.get(c)!.push(once(c.args));
  const loadAfter = loadavg()[0]!;

  const floor = median(times.get(cases[0]!)!);
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`${cairn} on node ${version}; ${runs} runs of each, taking turns; medians in ms`);
  console.log(`machine load (1 min): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after\n`);
  const rows = cases.map((c) => {
    const ms = times.get(c)!;
    return {
      command: c.label,
      median: median(ms).toFixed(0),
      'over node -e 0': c === cases[0] ? '' : `+${(median(ms) - floor).toFixed(0)}`,
      min: Math.min(...ms).toFixed(0),
      max: Math.max(...ms).toFixed(0),
      modules: modulesLoaded(c.args),
    };
  });
  const columns = Object.keys(rows[0]!) as (keyof (typeof rows)[number])[];
  const widths = columns.map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  console.log(line(columns));
  for (const r of rows) console.log(line(columns.map((k) => r[k])));

  const overhead = median(times.get(cases[1]!)!) - floor;
  console.log(
    `\ncairn version --client-only: ${overhead.toFixed(0)} ms over node -e 0 (target: within 100 ms): ${
      overhead <= 100 ? 'met' : 'not met'
    }`,
  );
} finally {
  rmSync(home, { recursive: true, force: true });
}
