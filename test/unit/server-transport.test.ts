// Which connections may carry a bearer token or a download URL's grant: the decision the server (per
// request) and the CLI (per --server-url, per download URL) both make, in src/controller/transport.ts and
// src/cli/server-trust.ts; and the CLI's download, which gives up on a server that sends nothing.
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { fetchDownload } from '../../src/cli/server-files.ts';
import { checkTokenUrl } from '../../src/cli/server-trust.ts';
import { isLoopbackHost, plainGrantRefusal, plainTokenRefusal } from '../../src/controller/index.ts';

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

describe('plainGrantRefusal', () => {
  it('refuses a download URL over plain HTTP by an address that is not loopback, naming the address', () => {
    assert.match(
      plainGrantRefusal({ encrypted: false, localAddress: '192.0.2.2' }) ?? '',
      /^refused: a download URL arrived over plain HTTP at 192\.0\.2\.2, which is not loopback;.* HTTPS only/,
    );
    assert.ok(plainGrantRefusal({ encrypted: false, localAddress: undefined }));
  });

  it('lets it through over TLS or loopback', () => {
    assert.equal(plainGrantRefusal({ encrypted: true, localAddress: '192.0.2.2' }), undefined);
    assert.equal(plainGrantRefusal({ encrypted: false, localAddress: '::ffff:127.0.0.1' }), undefined);
  });
});

describe("the CLI's download URLs", () => {
  const flag = 'the URL of DownloadRequest "web-abc"';
  const carrying = 'a download URL (its grant reads the file as a token would)';

  it('go over plain HTTP to a loopback address only, the refusal naming the URL and what it carries', async () => {
    await assert.rejects(
      checkTokenUrl(flag, 'http://cairn.ops.svc:8085', carrying),
      (error: Error) =>
        error.message ===
        `${flag} http://cairn.ops.svc:8085: refusing to send ${carrying} over plain HTTP to cairn.ops.svc, ` +
          'which is not loopback; use https:// (the server serves HTTPS; docs/server.md)',
    );
    assert.equal((await checkTokenUrl(flag, 'http://127.0.0.1:8085', carrying)).port, '8085');
    assert.equal((await checkTokenUrl(flag, 'https://cairn.ops.svc:8085', carrying)).protocol, 'https:');
  });

  it('give up on a server that accepts the connection and sends nothing, naming the request', async () => {
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    try {
      await assert.rejects(
        fetchDownload(new URL(`http://127.0.0.1:${port}/v1/downloads/secret.grant`), {
          request: 'web-abc',
          namespace: 'ops',
          against: 'nothing: plain HTTP on loopback',
          idleMs: 50,
        }),
        (error: Error) => {
          assert.match(
            error.message,
            new RegExp(
              `^cannot reach the server at http://127\\.0\\.0\\.1:${port}/v1/downloads/… for DownloadRequest "web-abc": ` +
                'the server at .* sent nothing for 0\\.05s before answering',
            ),
          );
          assert.doesNotMatch(error.message, /secret\.grant/, 'the grant is not in the message');
          return true;
        },
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('fail the stream when the server stops sending in the middle of the file', async () => {
    const sockets: Socket[] = [];
    const stalled = createServer((socket) => {
      sockets.push(socket);
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nthe first');
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as { port: number };
    try {
      const res = await fetchDownload(new URL(`http://127.0.0.1:${port}/v1/downloads/g`), {
        request: 'web-abc',
        namespace: 'ops',
        against: 'nothing: plain HTTP on loopback',
        idleMs: 50,
      });
      await assert.rejects(
        buffer(res),
        /sent nothing for 0\.05s in the middle of the file \(DownloadRequest "web-abc"\)/,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });
});
