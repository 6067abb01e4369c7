// The grants in DownloadRequests' URLs: one file, until a time, signed by one process's key; and the
// origin those URLs get when `cairn server --advertise-url` gives none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DownloadGrants,
  GrantRefusedError,
  defaultAdvertiseUrl,
  type DownloadGrant,
} from '../../src/controller/index.ts';

const grant: DownloadGrant = {
  namespace: 'cairn',
  kind: 'BackupLog',
  name: 'shop',
  uid: '9d5c6a1e-0b7e-4c43-9a58-3f1f1d3c2b10',
  location: 'primary',
  expires: Date.parse('2026-12-01T10:10:00Z'),
};
const before = Date.parse('2026-12-01T10:00:00Z');

describe('download grants', () => {
  it('give back what was signed, until it expires', () => {
    const grants = new DownloadGrants();
    const token = grants.sign(grant);
    assert.match(token, /^[\w-]+\.[\w-]+$/, 'URL-safe, no padding');
    assert.deepEqual(grants.verify(token, before), grant);
    assert.throws(
      () => grants.verify(token, grant.expires),
      (error: Error) =>
        error instanceof GrantRefusedError &&
        error.message ===
          'the download URL expired at 2026-12-01T10:10:00.000Z: create a new DownloadRequest',
    );
  });

  it("refuse an altered payload, an altered signature, and another process's grant", () => {
    const grants = new DownloadGrants();
    const [payload = '', signature = ''] = grants.sign(grant).split('.');
    const longer = Buffer.from(
      JSON.stringify(['cairn', 'BackupLog', 'shop', grant.uid, 'primary', grant.expires + 86_400_000]),
    ).toString('base64url');
    const other = new DownloadGrants().sign(grant);
    for (const token of [`${longer}.${signature}`, `${payload}.${signature.slice(1)}`, other, '', 'a.b.c'])
      assert.throws(() => grants.verify(token, before), GrantRefusedError, token);
  });

  it('are bound to the uid of the object they were made for, which no other signed grant carries', () => {
    const grants = new DownloadGrants();
    const token = grants.sign(grant);
    assert.equal(grants.verify(token, before).uid, grant.uid);
    const [, signature = ''] = token.split('.');
    // The same name's next object, the signature kept: refused.
    const recreated = Buffer.from(
      JSON.stringify(['cairn', 'BackupLog', 'shop', 'another-uid', 'primary', grant.expires]),
    ).toString('base64url');
    assert.throws(() => grants.verify(`${recreated}.${signature}`, before), GrantRefusedError);
  });
});

describe('the default advertised URL', () => {
  it('is the listener on loopback, else the Service in the namespace', () => {
    const at = (host: string, tls: boolean) =>
      defaultAdvertiseUrl({ host, port: 8085, tls, namespace: 'ops' });
    assert.equal(at('127.0.0.1', false), 'http://127.0.0.1:8085');
    assert.equal(at('::1', true), 'https://[::1]:8085');
    assert.equal(at('0.0.0.0', true), 'https://cairn.ops.svc:8085');
    assert.equal(at('10.1.2.3', false), 'http://cairn.ops.svc:8085');
  });
});
