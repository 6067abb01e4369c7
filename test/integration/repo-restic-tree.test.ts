// Our tree encoding against restic's: restic backs up a directory with one entry of every kind, and the
// nodes we make from lstat of the same entries are restic's, field for field; with restic's content and
// subtree ids added, our tree blob is restic's, byte for byte. Decoding restic's blob and encoding it
// again gives the same bytes. restic runs in a zone with a half-hour offset, and so do our times.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readAccountNames, readNode } from '../../src/repo/node-fs.ts';
import { decodeTree, encodeTree, FileMode, type Node } from '../../src/repo/tree.ts';
import { resticChecker } from '../helpers/restic-checker.ts';

const run = promisify(execFile);

const NON_ASCII = 'Grüße, 世界 🎉.txt';
// Characters restic escapes twice: Go's strconv.Quote (tab, bell, no-break space, quote, backslash), then
// Go's JSON (the backslashes again, and < > & as \u003c...).
const ESCAPED = 'odd "q" \\ <&> tab\t bell\u0007 nbsp\u00a0.txt';

describe('trees beside restic', () => {
  it('encodes the nodes of a directory as restic does, and restic’s tree blob round-trips', async (t) => {
    const checker = await resticChecker(t);
    const data = join(checker.work, 'data');
    await mkdir(join(data, 'sub'), { recursive: true });
    await writeFile(join(data, 'sub', 'inner.txt'), 'inside\n');
    await writeFile(join(data, 'file.txt'), 'some content\n');
    await writeFile(join(data, 'empty'), '');
    await symlink('file.txt', join(data, 'link'));
    await run('mkfifo', [join(data, 'fifo')]);
    await writeFile(join(data, 'secret'), 'group only\n');
    await chmod(join(data, 'secret'), 0o2640);
    await writeFile(join(data, NON_ASCII), 'non-ascii name\n');
    await writeFile(join(data, ESCAPED), 'escaped name\n');
    // A time with nanoseconds whose trailing zeros Go drops, and one before 1970.
    await utimes(join(data, 'file.txt'), 1_700_000_000.5, 1_700_000_000.5);
    await utimes(join(data, 'empty'), new Date(-86_400_000), new Date(-86_400_000)); // Node takes a negative number for now
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      await run('mknod', [join(data, 'null'), 'c', '1', '3']);
      await run('mknod', [join(data, 'loop'), 'b', '7', '0']);
    } else {
      t.diagnostic('not root: no device nodes');
    }

    const zone = { TZ: 'Asia/Kolkata' }; // +05:30 all year
    const blob = await checker.blob(await checker.backup(data, zone));
    const theirs = decodeTree(blob);
    assert.deepEqual(encodeTree(theirs), blob, 'decoding and encoding restic’s tree gives its bytes');

    const names = await readAccountNames();
    const entries = await readdir(data);
    const ours = await Promise.all(
      entries.map((entry) => readNode(join(data, entry), { names, utcOffset: () => 330 })),
    );
    assert.equal(ours.length, theirs.length);
    const byName = new Map(theirs.map((node) => [node.name, node]));
    for (const node of ours) {
      const restic = byName.get(node.name);
      assert.ok(restic, `restic has a node ${JSON.stringify(node.name)}`);
      const { content, subtree, ...fields } = restic;
      assert.deepEqual({ ...node, content: null }, { ...fields, content: null }, node.name);
      node.content = content;
      if (subtree) node.subtree = subtree;
    }
    assert.deepEqual(encodeTree(ours).toString('utf8'), blob.toString('utf8'));

    // The values restic stored, spelled out for the entries whose encoding is easy to get wrong.
    const json = (JSON.parse(blob.toString('utf8')) as { nodes: Record<string, unknown>[] }).nodes;
    const raw = (name: string) => json.find((n) => n['name'] === name) as Record<string, unknown>;
    assert.equal(raw('sub')['mode'], FileMode.dir + 0o755);
    assert.equal(raw('link')['mode'], FileMode.symlink + 0o777);
    assert.equal(raw('fifo')['mode'], FileMode.namedPipe + 0o644);
    assert.equal(raw('secret')['mode'], FileMode.setgid + 0o640);
    assert.equal(raw('file.txt')['mtime'], '2023-11-15T03:43:20.5+05:30');
    assert.equal(raw('empty')['mtime'], '1969-12-31T05:30:00+05:30');
    assert.deepEqual(raw('empty')['content'], []);
    assert.equal(raw('fifo')['content'], null);
    assert.ok(
      blob.includes(
        '"name":"odd \\\\\\"q\\\\\\" \\\\\\\\ \\u003c\\u0026\\u003e tab\\\\t bell\\\\a nbsp\\\\u00a0.txt"',
      ),
    );
    if (asRoot) {
      assert.equal(raw('null')['mode'], FileMode.device + FileMode.charDevice + 0o644);
      assert.equal(raw('loop')['mode'], FileMode.device + 0o644);
      const nullNode = theirs.find((n: Node) => n.name === 'null');
      assert.equal(nullNode?.device, (1n << 8n) | 3n);
    }
  });
});
