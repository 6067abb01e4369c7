// The two ways the README puts `cairn` on a PATH, run as a user runs them: a global link to the checkout
// (which runs the TypeScript sources), and a packed copy with its own dependencies (which runs the
// JavaScript that `npm run build` compiles into dist/, since Node strips no types under node_modules).
// Each installs into a prefix of its own, never into the machine's global npm.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { repoRoot } from '../helpers/cli.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a user's shell: this node first on PATH, and no npm_* settings of `npm test`. */
const userEnv: Record<string, string | undefined> = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
};

function run(command: string, args: string[], cwd: string = repoRoot): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: userEnv, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

async function prefix(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-install-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('installing cairn', () => {
  it('npm install -g --ignore-scripts . links the checkout, whose cairn runs the sources', async (t) => {
    const dir = await prefix(t);
    const install = await run('npm', ['install', '-g', '--ignore-scripts', '--prefix', dir, '.']);
    assert.equal(install.code, 0, install.stderr);
    assert.equal(realpathSync(join(dir, 'lib', 'node_modules', 'cairn')), realpathSync(repoRoot));

    const version = await run(join(dir, 'bin', 'cairn'), ['version', '--client-only']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^Client: v0\.1\.0 \(node v24\./);
    assert.equal(version.stderr, '');
  });

  it('npm install -g --install-links . installs a copy that runs the built JavaScript', async (t) => {
    const dir = await prefix(t);
    const install = await run('npm', [
      'install',
      '-g',
      '--install-links',
      `--allow-scripts=file:${repoRoot.replace(/\/$/, '')}`,
      '--no-audit',
      '--no-fund',
      '--prefix',
      dir,
      '.',
    ]);
    assert.equal(install.code, 0, install.stderr);
    assert.doesNotMatch(install.stderr, /warn/i);
    const home = join(dir, 'lib', 'node_modules', 'cairn');
    assert.ok(existsSync(join(home, 'dist', 'cli', 'index.js')), 'the copy has dist/');
    assert.ok(!existsSync(join(home, 'src')), 'the copy has no src/');

    const version = await run(join(dir, 'bin', 'cairn'), ['version', '--client-only']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^Client: v0\.1\.0 \(node v24\./);
    assert.equal(version.stderr, '');
  });

  it('npm pack packs bin/ and dist/, and neither the sources nor the tests', async () => {
    const pack = await run('npm', ['pack', '--dry-run', '--json', '--silent']);
    assert.equal(pack.code, 0, pack.stderr);
    const [{ files }] = JSON.parse(pack.stdout) as [{ files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    assert.ok(paths.includes('bin/cairn.js'));
    assert.ok(paths.includes('dist/cli/index.js'));
    assert.ok(paths.includes('dist/cli/index.js.map'));
    assert.deepEqual(
      paths.filter((p) => /^(src|test|testbed|bench)\//.test(p)),
      [],
    );
  });
});
