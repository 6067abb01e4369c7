import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listMetadataAhead, rawListItems, type RawItem } from '../../src/kube/index.ts';

/** A list page the way the API server writes built-in lists: type and list metadata before the items. */
function page(items: unknown[], metadata: Record<string, unknown> = { resourceVersion: '42' }): Buffer {
  return Buffer.from(
    `{"kind":"ConfigMapList","apiVersion":"v1","metadata":${JSON.stringify(metadata)},"items":[${items.map((i) => JSON.stringify(i)).join(',')}]}\n`,
  );
}

/** What each raw item stands for: its parsed JSON, and whether the scanner read it ahead. */
function summary(items: RawItem[]): { ahead: boolean; object: unknown; name?: string; namespace?: string }[] {
  return items.map((item) =>
    'bytes' in item
      ? {
          ahead: true,
          object: JSON.parse(item.bytes.toString('utf8')) as unknown,
          name: item.name,
          ...(item.namespace !== undefined ? { namespace: item.namespace } : {}),
        }
      : { ahead: false, object: item.object },
  );
}

describe('rawListItems', () => {
  it("splits a page into its items' exact bytes, with name and namespace read from the front", () => {
    const items = [
      { metadata: { name: 'a', namespace: 'shop', uid: '1' }, data: { k: 'v' } },
      { metadata: { name: 'b', generateName: 'b-', namespace: 'shop' }, data: {} },
      { metadata: { name: 'cluster-thing' }, spec: { list: [1, [2, { x: 3 }]] } },
    ];
    const got = summary([...rawListItems(page(items))]);
    assert.deepEqual(got, [
      { ahead: true, object: items[0], name: 'a', namespace: 'shop' },
      { ahead: true, object: items[1], name: 'b', namespace: 'shop' },
      { ahead: true, object: items[2], name: 'cluster-thing' },
    ]);
    // The bytes are the item's own, byte for byte (a view of the page, not a re-encoding).
    const [first] = [...rawListItems(page(items))];
    assert.ok(first && 'bytes' in first);
    assert.equal(first.bytes.toString('utf8'), JSON.stringify(items[0]));
  });

  it('is not fooled by braces, brackets, quotes and backslashes inside strings, or by non-ASCII text', () => {
    const items = [
      {
        metadata: { name: 'tricky', namespace: 'n' },
        data: {
          braces: '}}]]{{[[',
          quotes: 'say "hi" \\"no\\" \\\\',
          trailing: 'ends with a backslash \\',
          unicode: 'héllo 日本語 🎉 \u2028',
          control: 'tab\there\nnewline',
        },
      },
      { metadata: { name: 'after', namespace: 'n' } },
    ];
    const got = summary([...rawListItems(page(items))]);
    assert.deepEqual(
      got.map((g) => g.object),
      items,
    );
    assert.deepEqual(
      got.map((g) => g.name),
      ['tricky', 'after'],
    );
  });

  it('decodes escaped names and namespaces', () => {
    // The API server escapes <, > and & in strings (Go's encoding/json); a name never holds them, but
    // the scanner must decode whatever escape it meets rather than copy it.
    const body = Buffer.from(
      '{"kind":"XList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"a\\u003cb","namespace":"n\\u0026m"}}]}',
    );
    const got = [...rawListItems(body)];
    assert.deepEqual(
      got.map((g) => ('bytes' in g ? [g.name, g.namespace] : 'parsed')),
      [['a<b', 'n&m']],
    );
  });

  it('parses an item that does not start with its metadata name, so every item still comes out right', () => {
    const items = [
      { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'n' } },
      { metadata: { uid: 'x', name: 'late-name' } },
      { metadata: { name: 'fine' } },
    ];
    const got = summary([...rawListItems(page(items))]);
    assert.deepEqual(got, [
      { ahead: false, object: items[0] },
      { ahead: false, object: items[1] },
      { ahead: true, object: items[2], name: 'fine' },
    ]);
  });

  it('yields nothing for an empty or null item list, and tolerates whitespace between items', () => {
    assert.deepEqual([...rawListItems(page([]))], []);
    assert.deepEqual(
      [...rawListItems(Buffer.from('{"kind":"L","apiVersion":"v1","metadata":{},"items":null}'))],
      [],
    );
    const spaced = Buffer.from(
      '{"metadata":{},"items": [ {"metadata":{"name":"a"}} ,\n {"metadata":{"name":"b"}} ] }',
    );
    assert.deepEqual(
      [...rawListItems(spaced)].map((g) => ('bytes' in g ? g.name : 'parsed')),
      ['a', 'b'],
    );
  });

  it('throws a SyntaxError on a body whose items are not an array of objects, or are cut off', () => {
    assert.throws(() => [...rawListItems(Buffer.from('{"items":{"a":1}}'))], SyntaxError);
    assert.throws(() => [...rawListItems(Buffer.from('{"items":[1,2]}'))], SyntaxError);
    assert.throws(() => [...rawListItems(Buffer.from('{"items":[{"metadata":{"name":"a"'))], SyntaxError);
    assert.throws(() => [...rawListItems(Buffer.from('{"items":[{"metadata":{"name":"a}}]}'))], SyntaxError);
  });
});

describe('listMetadataAhead', () => {
  it("reads a built-in list's metadata from in front of its items", () => {
    const metadata = { resourceVersion: '7', continue: 'tok"en', remainingItemCount: 1200 };
    assert.deepEqual(listMetadataAhead(page([{ metadata: { name: 'a' } }], metadata)), metadata);
  });

  it("gives up (undefined) when the items come first, as in custom resources' lists, or the front is not JSON", () => {
    const custom = Buffer.from(
      '{"apiVersion":"example.com/v1","items":[{"metadata":{"name":"a"}}],"kind":"WidgetList","metadata":{"resourceVersion":"9"}}',
    );
    assert.equal(listMetadataAhead(custom), undefined);
    assert.equal(listMetadataAhead(Buffer.from('{"metadata":[1],"items":[]}')), undefined);
    assert.equal(listMetadataAhead(Buffer.from('not json,"items":[]')), undefined);
  });
});
