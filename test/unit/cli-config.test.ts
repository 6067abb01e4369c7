import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, keyFile, saveLocationKey } from '../../src/cli/config.ts';
import { generateLocationKey } from '../../src/storage/index.ts';

describe('a location key file', () => {
  it('is written once, private; a second key for the same location is refused and the first one kept', async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'cairn-keys-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const env = { XDG_CONFIG_HOME: home, HOME: home };
    const first = generateLocationKey();
    saveLocationKey(env, 'default', first);
    const file = keyFile(env, 'default');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    // Two first backups at once: the second one's key must not replace the key the first one used.
    assert.throws(
      () => saveLocationKey(env, 'default', generateLocationKey()),
      (error: unknown) =>
        error instanceof ConfigError &&
        /was made by another command meanwhile; it was kept/.test(error.message),
    );
    assert.equal((await readFile(file, 'utf8')).trim(), first.toString('base64'));
  });
});
