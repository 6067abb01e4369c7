// `cairn server`'s TLS flags refused before anything starts: one without the other, and a file that
// cannot be read, each named. No cluster is needed: the flags are read first.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cairn, envWithoutCluster } from '../helpers/cli.ts';

describe('cairn server --tls-cert-file/--tls-key-file', () => {
  it('refuses one without the other, and names a file it cannot read', async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'cairn-tls-flags-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const env = envWithoutCluster(home);
    await writeFile(join(home, 'tls.crt'), 'not read: the flags are checked first');
    const alone = await cairn(['server', '--tls-cert-file', join(home, 'tls.crt')], env);
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /--tls-cert-file and --tls-key-file go together: give both, or neither/);
    const missing = await cairn(
      ['server', '--tls-cert-file', join(home, 'tls.crt'), '--tls-key-file', join(home, 'tls.key')],
      env,
    );
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /option '--tls-key-file <file>' argument '.*tls\.key' is invalid\. no such file/,
    );
  });
});
