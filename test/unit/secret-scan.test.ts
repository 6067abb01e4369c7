// The leak finder of the secrets test (test/helpers/secret-scan.ts) finds a value however it is encoded
// and wherever it sits, so a clean scan there means no value was written, not that the search was blind.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { findLeaks, secretForms } from '../helpers/secret-scan.ts';

const value = 'pw-6f1c0a9e2b7d4c3f8a5e1d0b9c7a6f42';
const secrets = [{ what: 'Secret app/db data password', value }];
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('the secrets test leak finder', () => {
  it('finds a value in plain text, naming where and what', () => {
    const leaks = findLeaks('restore logs', `applied secrets app/db: {"password":"${value}"}`, secrets);
    assert.deepEqual(leaks, [{ where: 'restore logs', what: 'Secret app/db data password', form: 'plain' }]);
  });

  it('finds it base64-encoded at every offset inside a longer value', () => {
    for (const before of ['', 'x', 'xy', 'password: '])
      for (const after of ['', '\n', 'tail'])
        assert.ok(
          findLeaks('a diff', `data: ${b64(before + value + after)}`, secrets).length > 0,
          `base64 of ${JSON.stringify(before)} + value + ${JSON.stringify(after)} not found`,
        );
  });

  it('finds it base64-encoded twice, as a Secret inside base64-encoded JSON', () => {
    for (const before of ['', 'a', 'ab'])
      for (const outer of ['', '{', '{"k":'])
        assert.ok(
          findLeaks('a file', b64(`${outer}{"data":{"password":"${b64(before + value)}"}}`), secrets).length >
            0,
          `base64(base64) with ${JSON.stringify(before)} and ${JSON.stringify(outer)} not found`,
        );
  });

  it('finds it in the bytes of a file', () => {
    assert.ok(findLeaks('file', Buffer.from(`x${value}x`), secrets).length > 0);
  });

  it('finds nothing where the value is not, nor in compressed bytes (files are gunzipped before scanning)', () => {
    assert.deepEqual(findLeaks('output', 'Secret app/db: created', secrets), []);
    assert.deepEqual(findLeaks('output', value.slice(0, -1), secrets), []);
    assert.deepEqual(findLeaks('file', gzipSync(value.repeat(3)), secrets), []);
  });

  it('searches for no form shorter than a third of the value', () => {
    for (const form of secretForms(value)) assert.ok(form.text.length >= value.length / 3, form.form);
  });
});
