import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  decodeTree,
  DuplicateNodeError,
  encodeTree,
  FileMode,
  formatNodeTime,
  goJsonString,
  goQuote,
  goUnquote,
  parseNodeTime,
  TreeFormatError,
  type Node,
  type NodeTime,
} from '../../src/repo/tree.ts';

const restic014 = readFileSync(new URL('../fixtures/repo/restic-0.14-tree.blob', import.meta.url));

const utc = (unixNano: bigint): NodeTime => ({ unixNano, utcOffsetMinutes: 0 });

function fileNode(name: string, fields: Partial<Node> = {}): Node {
  const time = utc(1_700_000_000_123_456_789n);
  return {
    name,
    type: 'file',
    mode: 0o644,
    mtime: time,
    atime: time,
    ctime: time,
    uid: 0,
    gid: 0,
    content: [],
    ...fields,
  };
}

describe('restic trees', () => {
  it('decodes a tree restic 0.14 stored and encodes it again to the same bytes', () => {
    const nodes = decodeTree(restic014);
    assert.equal(nodes.length, 15); // restic's archiver skips the socket
    assert.deepEqual(encodeTree(nodes), restic014);
  });

  it('reads every kind of node restic stored, with its Go file mode, ids and attributes', () => {
    const nodes = new Map(decodeTree(restic014).map((node) => [node.name, node]));
    const get = (name: string) => nodes.get(name) as Node;
    assert.deepEqual(
      [...nodes.values()].map((node) => [node.name, node.type, node.mode]),
      [
        ['Grüße, 世界 🎉.txt', 'file', 0o644],
        ['empty', 'file', 0o644],
        ['fifo', 'fifo', FileMode.namedPipe + 0o644],
        ['file.txt', 'file', 0o644],
        ['hardlink', 'file', 0o644],
        ['link', 'symlink', FileMode.symlink + 0o777],
        ['link2', 'symlink', FileMode.symlink + 0o777],
        ['loop', 'dev', FileMode.device + 0o644],
        ['null', 'chardev', FileMode.device + FileMode.charDevice + 0o644],
        ['odd "q" \\ <&> tab\t bell\u0007 nbsp\u00a0.txt', 'file', 0o644],
        ['secret', 'file', FileMode.setgid + 0o640],
        ['setuid-sticky', 'file', FileMode.setuid + 0o755],
        ['sticky', 'dir', FileMode.dir + FileMode.sticky + 0o777],
        ['sub', 'dir', FileMode.dir + 0o755],
        ['xattr.txt', 'file', 0o644],
      ],
    );
    assert.deepEqual(get('file.txt').mtime, {
      unixNano: 1_700_000_000_123_456_789n,
      utcOffsetMinutes: 330,
    });
    assert.equal(get('file.txt').links, 2);
    assert.equal(get('file.txt').inode, get('hardlink').inode);
    assert.equal(get('empty').uid, 1234);
    assert.equal(get('empty').gid, 5678);
    assert.equal(get('empty').user, undefined);
    assert.deepEqual(get('empty').content, []);
    assert.equal(get('sub').content, null);
    assert.match(get('sub').subtree ?? '', /^[0-9a-f]{64}$/);
    assert.equal(get('link').linkTarget, 'file.txt');
    assert.equal(formatNodeTime(get('link').mtime), '1969-07-21T01:47:40+05:30');
    assert.equal(get('link2').linkTarget, 'dangling \u2028 target');
    assert.equal(get('null').device, 0x103n);
    assert.equal(get('loop').device, 0x700n);
    assert.deepEqual(get('xattr.txt').extendedAttributes, [
      { name: 'user.cairn', value: Buffer.from('\u0000\u00ffvalue', 'latin1') },
      { name: 'user.empty', value: Buffer.alloc(0) },
    ]);
  });

  it('writes fields in restic’s order and leaves out the empty ones restic leaves out', () => {
    const time = utc(0n);
    const bare: Node = {
      name: 'd',
      type: 'dir',
      mode: 0,
      mtime: time,
      atime: time,
      ctime: time,
      uid: 0,
      gid: 0,
      content: null,
    };
    assert.equal(
      encodeTree([bare]).toString(),
      '{"nodes":[{"name":"d","type":"dir","mtime":"1970-01-01T00:00:00Z","atime":"1970-01-01T00:00:00Z",' +
        '"ctime":"1970-01-01T00:00:00Z","uid":0,"gid":0,"content":null}]}\n',
    );
    const full: Node = {
      ...bare,
      mode: 1,
      user: 'u',
      group: 'g',
      inode: 2n,
      deviceId: 3n,
      size: 4,
      links: 5,
      linkTarget: 't',
      extendedAttributes: [{ name: 'a', value: null }],
      device: 6n,
      content: ['a'.repeat(64)],
      subtree: 'b'.repeat(64),
      error: 'e',
    };
    const keys = Object.keys(
      (JSON.parse(encodeTree([full]).toString()) as { nodes: object[] }).nodes[0] as object,
    );
    assert.deepEqual(keys, [
      'name',
      'type',
      'mode',
      'mtime',
      'atime',
      'ctime',
      'uid',
      'gid',
      'user',
      'group',
      'inode',
      'device_id',
      'size',
      'links',
      'linktarget',
      'extended_attributes',
      'device',
      'content',
      'subtree',
      'error',
    ]);
    assert.match(encodeTree([full]).toString(), /"extended_attributes":\[\{"name":"a","value":null\}\]/);
    assert.equal(encodeTree([]).toString(), '{"nodes":[]}\n');
  });

  it('sorts nodes by the bytes of their UTF-8 names, as Go compares strings', () => {
    // UTF-16 order puts U+1F600 (a surrogate pair) before U+FFFD; UTF-8 byte order puts it after.
    const names = ['😀', '\ufffd', 'b', 'B', 'a'];
    const encoded = decodeTree(encodeTree(names.map((name) => fileNode(name)))).map((node) => node.name);
    assert.deepEqual(encoded, ['B', 'a', 'b', '\ufffd', '😀']);
    assert.throws(() => encodeTree([fileNode('x'), fileNode('x')]), DuplicateNodeError);
  });

  it('keeps 64-bit inodes and device ids exact', () => {
    const node = fileNode('big', { inode: 2n ** 64n - 1n, deviceId: 2n ** 53n + 1n, device: 2n ** 60n });
    const [back] = decodeTree(encodeTree([node]));
    assert.equal(back?.inode, 2n ** 64n - 1n);
    assert.equal(back?.deviceId, 2n ** 53n + 1n);
    assert.throws(() => encodeTree([fileNode('x', { inode: 2n ** 64n })]), /not a uint64/);
    assert.throws(() => encodeTree([fileNode('x', { uid: -1 })]), /not a uint32/);
  });

  it('quotes names and escapes JSON strings as Go does', () => {
    // Expected values printed by Go: json.Marshal(strconv.Quote(s) without its quotes), and json.Marshal(s).
    const quoted: [string, string][] = [
      ['plain.txt', '"plain.txt"'],
      ['Grüße 世界 🎉', '"Grüße 世界 🎉"'],
      [`quote" back\\ <&> '`, `"quote\\\\\\" back\\\\\\\\ \\u003c\\u0026\\u003e '"`],
      [
        'tab\t nl\n cr\r bell\u0007 bs\b ff\f vt\v nul\u0000 esc\u001b del\u007f',
        '"tab\\\\t nl\\\\n cr\\\\r bell\\\\a bs\\\\b ff\\\\f vt\\\\v nul\\\\x00 esc\\\\x1b del\\\\x7f"',
      ],
      [
        'nbsp\u00a0 zwsp\u200b ls\u2028 ps\u2029 bom\ufeff pua\ue000 rep\ufffd',
        '"nbsp\\\\u00a0 zwsp\\\\u200b ls\\\\u2028 ps\\\\u2029 bom\\\\ufeff pua\\\\ue000 rep\ufffd"',
      ],
      ['soft\u00ad hyph', '"soft\\\\u00ad hyph"'],
      ['\u{1f600} \u{e0001} \u{10fffd}', '"\u{1f600} \\\\U000e0001 \\\\U0010fffd"'],
      ['C1\u0085\u009f', '"C1\\\\u0085\\\\u009f"'],
    ];
    for (const [name, expected] of quoted) {
      assert.equal(goJsonString(goQuote(name)), expected, JSON.stringify(name));
      assert.equal(goUnquote(goQuote(name)), name);
    }
    assert.equal(
      goJsonString('ls\u2028ps\u2029 <&> \u0001\u001f "\\ \ufffd'),
      '"ls\\u2028ps\\u2029 \\u003c\\u0026\\u003e \\u0001\\u001f \\"\\\\ \ufffd"',
    );
  });

  it('reads Go escapes in names, and refuses names that are not UTF-8 once unquoted', () => {
    assert.equal(goUnquote('a\\x41\\101\\u00e9\\U0001F600'), 'aAAé😀');
    assert.equal(goUnquote('\\xc3\\xa9'), 'é');
    assert.throws(() => goUnquote('bad\\xffbyte'), TreeFormatError);
    assert.throws(() => goUnquote("it\\'s"), TreeFormatError);
    assert.throws(() => goUnquote('trailing\\'), TreeFormatError);
  });

  it('formats times as Go’s RFC 3339 with nanoseconds and parses them back to the nanosecond', () => {
    // Expected values printed by Go's time.Time.MarshalJSON after restic's FixTime.
    const cases: [NodeTime, string][] = [
      [utc(0n), '1970-01-01T00:00:00Z'],
      [
        { unixNano: 1_700_000_000_123_456_789n, utcOffsetMinutes: -210 },
        '2023-11-14T18:43:20.123456789-03:30',
      ],
      [utc(1_700_000_000_120_000_000n), '2023-11-14T22:13:20.12Z'],
      [utc(-1n), '1969-12-31T23:59:59.999999999Z'],
      [utc(-62_135_596_800_000_000_000n), '0001-01-01T00:00:00Z'],
      [{ unixNano: 1_709_114_400_000_000_000n, utcOffsetMinutes: 14 * 60 }, '2024-02-29T00:00:00+14:00'],
    ];
    for (const [time, text] of cases) {
      assert.equal(formatNodeTime(time), text);
      assert.deepEqual(parseNodeTime(text), time);
    }
    for (let i = 0n; i < 200n; i++) {
      const time = {
        unixNano: ((i * 7_919_000_000_000_001n * 104_729n) % 10n ** 19n) - 5n * 10n ** 18n,
        utcOffsetMinutes: Number(i % 50n) * 30 - 720,
      };
      assert.deepEqual(parseNodeTime(formatNodeTime(time)), time);
    }
  });

  it('clamps years as restic’s FixTime does and cuts fractions past nanoseconds as Go does', () => {
    const year12000 = BigInt(Date.UTC(12_000, 1, 29, 1, 2, 3)) * 1_000_000n + 4n;
    assert.equal(formatNodeTime(utc(year12000)), '9999-03-01T01:02:03.000000004Z');
    const yearMinus5 = BigInt(Date.UTC(-5, 5, 7, 1, 2, 3)) * 1_000_000n;
    assert.equal(formatNodeTime(utc(yearMinus5)), '0000-06-07T01:02:03Z');
    assert.deepEqual(
      parseNodeTime('2023-11-14T22:13:20.1234567891234+00:00'),
      utc(1_700_000_000_123_456_789n),
    );
    assert.equal(formatNodeTime(parseNodeTime('2023-11-14T22:13:20-00:00')), '2023-11-14T22:13:20Z');
    for (const bad of [
      '2023-11-14 22:13:20Z',
      '2023-02-29T00:00:00Z',
      '2023-11-14T24:00:00Z',
      '2023-11-14T22:13:20',
    ]) {
      assert.throws(() => parseNodeTime(bad), TreeFormatError, bad);
    }
  });

  it('refuses tree blobs that restic would not have written', () => {
    const node = JSON.parse(encodeTree([fileNode('x')]).toString()) as { nodes: Record<string, unknown>[] };
    const withField = (field: string, value: unknown) =>
      Buffer.from(JSON.stringify({ nodes: [{ ...node.nodes[0], [field]: value }] }));
    assert.throws(() => decodeTree(Buffer.from('{"nodes":[')), TreeFormatError);
    assert.throws(() => decodeTree(withField('type', 'door')), /unknown node type "door"/);
    assert.throws(() => decodeTree(withField('content', ['abc'])), /nodes\[0\]\.content\[0\]/);
    assert.throws(() => decodeTree(withField('uid', -1)), /nodes\[0\]\.uid/);
    assert.throws(() => decodeTree(withField('mtime', 'yesterday')), /nodes\[0\]\.mtime/);
    assert.deepEqual(decodeTree(Buffer.from('{"nodes":null}')), []);
  });
});
