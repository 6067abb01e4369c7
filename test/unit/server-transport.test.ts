// Which connections may carry a bearer token: the decision the server (per request) and the CLI (per
// --server-url) both make, in src/controller/transport.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackHost, plainTokenRefusal } from '../../src/controller/index.ts';

describe('isLoopbackHost', () => {
  it('knows loopback addresses and names, in every spelling a URL or a socket gives them', () => {
    for (const host of [
      'localhost',
      'LOCALHOST',
      'api.localhost',
      '127.0.0.1',
      '127.8.9.10',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
    ])
      assert.equal(isLoopbackHost(host), true, host);
  });

  it('knows that everything else is not', () => {
    for (const host of [
      '0.0.0.0',
      '::',
      '192.0.2.2',
      '10.0.0.1',
      'cairn.cairn.svc',
      'localhost.example.com',
      '::ffff:10.0.0.1',
      '128.0.0.1',
    ])
      assert.equal(isLoopbackHost(host), false, host);
  });
});

describe('plainTokenRefusal', () => {
  it('refuses a token over plain HTTP by an address that is not loopback, naming the address', () => {
    assert.match(
      plainTokenRefusal({ encrypted: false, localAddress: '192.0.2.2', hasToken: true }) ?? '',
      /^refused: a bearer token arrived over plain HTTP at 192\.0\.2\.2, which is not loopback; tokens go over HTTPS only/,
    );
    assert.ok(plainTokenRefusal({ encrypted: false, localAddress: undefined, hasToken: true }));
  });

  it('lets a token through over TLS or loopback, and any request without a token', () => {
    assert.equal(
      plainTokenRefusal({ encrypted: true, localAddress: '192.0.2.2', hasToken: true }),
      undefined,
    );
    assert.equal(
      plainTokenRefusal({ encrypted: false, localAddress: '127.0.0.1', hasToken: true }),
      undefined,
    );
    assert.equal(
      plainTokenRefusal({ encrypted: false, localAddress: '::ffff:127.0.0.1', hasToken: true }),
      undefined,
    );
    assert.equal(
      plainTokenRefusal({ encrypted: false, localAddress: '192.0.2.2', hasToken: false }),
      undefined,
    );
  });
});
