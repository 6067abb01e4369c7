// An empty value in a list flag is an error naming the flag, for every command that has one: an unset
// shell variable (`--include-namespaces "$NS"`) must not silently back up or restore the whole cluster.
// The commands run as a user runs them, with a private configuration and no cluster; nothing is created.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { cairn, envWithoutCluster } from '../helpers/cli.ts';

/** The flag as commander names it in its message, and a command line that gives it `value`. */
const cases: { flag: string; args: (value: string) => string[] }[] = [
  ...['--include-namespaces', '--exclude-namespaces', '--include-resources', '--exclude-resources'].map(
    (flag) => ({ flag, args: (v: string) => ['backup', 'create', 'b', flag, v] }),
  ),
  { flag: '--storage-location', args: (v) => ['backup', 'create', 'b', '--storage-location', v] },
  { flag: '--or-selector', args: (v) => ['backup', 'create', 'b', '--or-selector', v] },
  { flag: '--selector', args: (v) => ['backup', 'create', 'b', '-l', v] },
  { flag: '--labels', args: (v) => ['backup', 'create', 'b', '--labels', v] },
  {
    flag: '--include-namespaces',
    args: (v) => ['schedule', 'create', 's', '--schedule', '@daily', '--include-namespaces', v],
  },
  ...[
    '--include-namespaces',
    '--exclude-namespaces',
    '--include-resources',
    '--exclude-resources',
    '--namespace-mappings',
    '--storage-class-mappings',
    '--restore-status',
    '--cluster-resource-scope',
    '--resource-priorities',
    '--or-selector',
    '--storage-location',
  ].map((flag) => ({ flag, args: (v: string) => ['restore', 'create', '--from-backup', 'b', flag, v] })),
  { flag: '--storage-location', args: (v) => ['backup', 'get', '--storage-location', v] },
  {
    flag: '--storage-location',
    args: (v) => ['backup', 'delete', 'b', '--confirm', '--storage-location', v],
  },
  { flag: '--storage-location', args: (v) => ['backup', 'verify', 'b', '--storage-location', v] },
  { flag: '--config', args: (v) => ['location', 'create', 'nas', '--provider', 'fs', '--config', v] },
  { flag: '--location-config', args: (v) => ['install', '--dry-run', '--location-config', v] },
  { flag: '--filename', args: (v) => ['import', 'velero', '--dry-run', '-f', v] },
  { flag: '--kinds', args: (v) => ['import', 'velero', '--dry-run', '--kinds', v] },
];

/** A HOME and XDG directories of the test's own, with no kubeconfig. */
async function privateHome(
  t: TestContext,
): Promise<{ dir: string; env: Record<string, string | undefined> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-empty-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = {
    ...envWithoutCluster(dir),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
  };
  return { dir, env };
}

describe('empty values in list flags', () => {
  it('refuses an empty value, naming the flag, in every command, and creates nothing', async (t) => {
    const { dir, env } = await privateHome(t);
    // Four at a time: thirty CLI processes at once would only crowd a loaded machine.
    const results: { c: (typeof cases)[number]; result: Awaited<ReturnType<typeof cairn>> }[] = [];
    for (let i = 0; i < cases.length; i += 4)
      results.push(
        ...(await Promise.all(
          cases.slice(i, i + 4).map(async (c) => ({ c, result: await cairn(c.args(''), env) })),
        )),
      );
    for (const { c, result } of results) {
      const line = `cairn ${c.args("''").join(' ')}`;
      assert.equal(result.code, 1, `${line}: ${result.stdout}${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(`option '(-\\w, )?${c.flag}( <[^>]+>)?' argument '' is invalid\\. the value is empty`),
        line,
      );
    }
    assert.equal(existsSync(join(dir, 'config')), false, 'no configuration was written');
    assert.equal(existsSync(join(dir, 'data')), false, 'no location or record was created');
  });

  it('refuses a list with an empty item, as "$A,$B" gives when B is unset', async (t) => {
    const { dir, env } = await privateHome(t);
    for (const value of ['shop,', ',shop', 'shop,,web']) {
      const result = await cairn(['backup', 'create', 'b', '--include-namespaces', value], env);
      assert.equal(result.code, 1, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `option '--include-namespaces <list>' argument '${value}' is invalid\\. the list has an empty item`,
        ),
      );
    }
    assert.equal(existsSync(join(dir, 'data')), false, 'no location was created');
  });
});
