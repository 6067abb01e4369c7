// The test command: `npm test [-- [--no-testbed] [paths...]]`.
//
// Starts one testbed for the whole run (or reuses the one already running, and then leaves it running),
// runs every *.test.ts under the given paths (default: test/) with Node's test runner, and stops the
// testbed it started. Each test works in namespaces and buckets of its own.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const noTestbed = args.includes('--no-testbed');
const paths = args.filter((a) => !a.startsWith('--'));

function collect(path, out) {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path).sort()) collect(join(path, entry), out);
  } else if (path.endsWith('.test.ts')) {
    out.push(relative(root, path));
  }
  return out;
}

const files = (paths.length ? paths : ['test']).flatMap((p) => collect(resolve(root, p), []));
if (files.length === 0) {
  console.error(`no test files under ${paths.join(' ') || 'test'}`);
  process.exit(1);
}

const testbed = (...command) =>
  spawnSync(process.execPath, [join(root, 'testbed', 'cli.ts'), ...command], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });

/** Parses the `export K='v'` lines that `testbed up` prints. */
function parseExports(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, raw] = match;
    if (key === 'PATH') {
      const dir = /^'((?:[^']|'\\'')*)':"\$PATH"$/.exec(raw);
      if (dir) env.PATH = `${dir[1].replaceAll(`'\\''`, "'")}:${process.env.PATH}`;
      continue;
    }
    env[key] = raw.slice(1, -1).replaceAll(`'\\''`, "'");
  }
  return env;
}

// Unit tests and the property-based bad-input tests (test/fuzz) need no testbed.
const needsTestbed =
  !noTestbed && files.some((f) => !f.startsWith('test/unit/') && !f.startsWith('test/fuzz/'));
let startedTestbed = false;
const env = { ...process.env };
if (needsTestbed) {
  const alreadyRunning = testbed('status').status === 0;
  const clusters = process.env.CAIRN_TEST_CLUSTERS ?? '2';
  const up = testbed('up', '--clusters', clusters);
  if (up.status !== 0) {
    console.error('testbed up failed; see the lines above');
    process.exit(1);
  }
  startedTestbed = !alreadyRunning;
  Object.assign(env, parseExports(up.stdout));
}

/** Runs test files with Node's test runner, `concurrency` files at a time; resolves to its exit code. */
function runFiles(list, concurrency) {
  if (list.length === 0) return Promise.resolve(0);
  const child = spawn(
    process.execPath,
    ['--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...list],
    { cwd: root, env, stdio: 'inherit' },
  );
  return new Promise((done) => child.on('exit', (c, signal) => done(c ?? (signal ? 1 : 0))));
}

// The tests beside the real Velero run last and alone: a Velero backup lists every resource of the
// cluster, and another test file removing its CRDs meanwhile (cairn uninstall) fails the list, which
// Velero counts as an error of the backup.
const alone = files.filter((f) => f.startsWith('test/interop/'));
const shared = files.filter((f) => !alone.includes(f));
const sharedCode = await runFiles(shared, 2);
const aloneCode = await runFiles(alone, 1);
const code = sharedCode || aloneCode;

if (startedTestbed && process.env.CAIRN_TESTBED_KEEP !== '1') {
  const down = testbed('down');
  if (down.status !== 0) {
    console.error('testbed down failed');
    process.exit(1);
  }
}
process.exit(code);
