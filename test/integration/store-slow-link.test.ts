// The S3 driver under withTimeouts on a slow link that keeps moving: the testbed's MinIO behind a proxy
// that forwards what the client sends 64 KiB at a time, every 25 ms (about 2.5 MiB/s at most). A large
// Buffer (a restic pack) takes several times the request limit (4 s) to go up, and must succeed, as the
// driver tells its progress piece by piece. The idle limit (8 s) covers the bytes the loopback sockets
// buffer after the last piece is taken (about 5 MiB, 2 s here). A store that stops is failed by the same
// limits elsewhere (server-store-timeouts.test.ts); a stream's parts sent after its body ended are the
// unit tests' (store-timeouts.test.ts) and the drivers' (object-store-drivers.test.ts).
import assert from 'node:assert/strict';
import { CreateBucketCommand, DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Transform } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { withTimeouts, type ObjectStore } from '../../src/storage/index.ts';
import { S3Store } from '../../src/storage/s3-store.ts';
import { minioOptions, testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const PIECE = 64 * 1024;
const TICK_MS = 25;

/** A TCP proxy to `target` that forwards the client's bytes PIECE at a time, one piece per tick. */
async function startSlowLink(target: URL): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => [client, upstream].forEach((s) => s.destroy()));
      socket.on('close', () => [client, upstream].forEach((s) => s.destroy()));
    }
    const slow = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        let at = 0;
        const next = () => {
          if (at >= chunk.length) return done();
          this.push(chunk.subarray(at, at + PIECE));
          at += PIECE;
          setTimeout(next, TICK_MS);
        };
        next();
      },
    });
    client.pipe(slow).pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((closed) => server.close(closed));
    },
  };
}

describe('the S3 driver under withTimeouts on a slow link that keeps moving', () => {
  const bucket = `cairn-${uniqueSuffix()}`;
  const admin = new S3Client(minioOptions());
  let link: Awaited<ReturnType<typeof startSlowLink>>;
  let s3: S3Store;
  let store: ObjectStore;

  before(async () => {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    link = await startSlowLink(new URL(testbedEnv('CAIRN_S3_ENDPOINT')));
    s3 = new S3Store({ ...minioOptions(), endpoint: link.endpoint, bucket });
    store = withTimeouts(s3, { location: 'slow', requestMs: 4000, idleMs: 8000 });
  });
  after(async () => {
    await s3.delete('restic/data/00/pack').catch(() => {});
    s3.destroy();
    await link.close();
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
  });

  it('puts a 32 MiB Buffer that takes longer than the request limit', async () => {
    const pack = randomBytes(32 * 1024 * 1024);
    await store.put('restic/data/00/pack', pack);
    assert.ok((await buffer(await store.get('restic/data/00/pack'))).equals(pack));
  });
});
