// `cairn` installed globally, as a user installs it: into a private npm prefix, so the test leaves the
// machine's global packages alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/cli.ts';
import { testbedEnv } from '../helpers/testbed.ts';

const run = promisify(execFile);

async function installAndRun(t: { after: (fn: () => Promise<void>) => void }, installArgs: string[]) {
  const prefix = await mkdtemp(join(tmpdir(), 'cairn-global-'));
  t.after(() => rm(prefix, { recursive: true, force: true }));
  await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', ...installArgs, '.'], {
    cwd: repoRoot,
    timeout: 300_000,
  });
  // Run from another directory, with the checkout nowhere on the way.
  const { stdout } = await run(join(prefix, 'bin', 'cairn'), ['version'], {
    cwd: tmpdir(),
    env: { ...process.env, KUBECONFIG: testbedEnv('KUBECONFIG') },
  });
  return stdout;
}

describe('cairn installed globally', () => {
  it('runs after `npm install -g .` (a link to this checkout)', async (t) => {
    const stdout = await installAndRun(t, []);
    assert.match(stdout, /^Client: v0\.1\.0/m);
    assert.match(stdout, /^Kubernetes server: v1\.34\.4/m);
  });

  it('runs after `npm install -g --install-links .` (a packed copy with its own dependencies)', async (t) => {
    const stdout = await installAndRun(t, ['--install-links']);
    assert.match(stdout, /^Kubernetes server: v1\.34\.4/m);
  });
});
