// Our chunker against restic's: restic backs up files, and the SHA-256 of every chunk we cut from them
// with the repository's own polynomial is, in order, the content id restic stored for the file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Chunker, chunks } from '../../src/repo/chunker.ts';
import { polynomialFromHex } from '../../src/repo/polynomial.ts';
import { decodeTree } from '../../src/repo/tree.ts';
import { GoRand } from '../helpers/go-math-rand.ts';
import { resticChecker } from '../helpers/restic-checker.ts';

async function ourChunkIds(chunker: Chunker, path: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const chunk of chunks(chunker, createReadStream(path, { highWaterMark: 1024 * 1024 }))) {
    ids.push(createHash('sha256').update(chunk).digest('hex'));
  }
  return ids;
}

describe('the chunker beside restic', () => {
  it("cuts a file where restic cut it, with the repository's polynomial", async (t) => {
    const checker = await resticChecker(t);
    const polynomial = polynomialFromHex((await checker.config()).chunker_polynomial);
    const data = join(checker.work, 'data');
    await mkdir(data);
    await writeFile(join(data, 'large.bin'), new GoRand(1).bytes(20 * 1024 * 1024));
    await writeFile(join(data, 'small.bin'), new GoRand(2).bytes(100 * 1024));
    await writeFile(join(data, 'empty.bin'), '');

    const tree = decodeTree(await checker.blob(await checker.backup(data)));
    const content = (name: string) => tree.find((node) => node.name === name)?.content;
    const chunker = new Chunker(polynomial);
    const large = await ourChunkIds(chunker, join(data, 'large.bin'));
    t.diagnostic(`polynomial ${polynomial.toString(16)}: ${large.length} chunks in 20 MiB`);
    assert.ok(large.length >= 6, `${large.length} chunks: too few to show the cuts agree`);
    assert.deepEqual(large, content('large.bin'));
    assert.deepEqual(await ourChunkIds(chunker, join(data, 'small.bin')), content('small.bin'));
    assert.deepEqual(await ourChunkIds(chunker, join(data, 'empty.bin')), content('empty.bin'));
  });
});
