import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import { parallelGzip } from '../../src/archive/parallel-gzip.ts';

/**
 * The gzip members of a byte string. Each is a 10-byte header (the writer sets no optional fields), a raw
 * deflate stream (inflateRaw stops at its end and says how much it consumed) and an 8-byte trailer.
 */
function memberCount(gz: Buffer): number {
  let count = 0;
  let rest = gz;
  while (rest.length > 0) {
    assert.deepEqual([...rest.subarray(0, 4)], [0x1f, 0x8b, 8, 0], 'a gzip member header without flags');
    const { engine } = inflateRawSync(rest.subarray(10), { info: true }) as unknown as {
      engine: { bytesWritten: number };
    };
    rest = rest.subarray(10 + engine.bytesWritten + 8);
    count += 1;
  }
  return count;
}

async function compress(chunks: (Buffer | Buffer[])[], options: Parameters<typeof parallelGzip>[0]) {
  const gz = parallelGzip(options);
  const out = buffer(gz);
  await pipeline(Readable.from(chunks, { objectMode: true }), gz);
  return out;
}

describe('parallelGzip', () => {
  it('writes gzip that any reader inflates to the input, in order, as one member per block', async () => {
    const chunks = Array.from({ length: 200 }, (_, i) =>
      Buffer.from(`${i}:${randomBytes(700).toString('base64')}\n`),
    );
    const gz = await compress(chunks, { level: 3, blockBytes: 16 * 1024, concurrency: 3 });
    assert.deepEqual(gunzipSync(gz), Buffer.concat(chunks));
    const members = memberCount(gz);
    assert.ok(members >= Math.floor(Buffer.concat(chunks).length / (16 * 1024)), `${members} members`);
  });

  it('takes arrays of buffers as one write, without changing the bytes', async () => {
    const parts = [Buffer.from('header'), Buffer.from('-body-'), Buffer.from('padding')];
    const gz = await compress([parts, Buffer.from('!')], { level: 6, blockBytes: 4 });
    assert.equal(gunzipSync(gz).toString(), 'header-body-padding!');
  });

  it('writes a valid (empty) gzip for an empty input', async () => {
    const gz = await compress([], { level: 6 });
    assert.equal(gz.length > 0, true);
    assert.equal(gunzipSync(gz).length, 0);
  });

  it('is one member when the input fits in a block', async () => {
    const gz = await compress([Buffer.from('small')], { level: 6 });
    assert.equal(memberCount(gz), 1);
  });
});
