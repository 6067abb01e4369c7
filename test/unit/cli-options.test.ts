import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { collectList, collectValue, listItems, pairsParser, parseDuration } from '../../src/cli/options.ts';
import { parseOutputFormat } from '../../src/cli/output.ts';

describe('parseDuration', () => {
  it('reads Go-style durations into milliseconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('1.5s'), 1500);
  });

  it('refuses what is not a duration, naming the value', () => {
    for (const bad of ['', '5', 'five seconds', '5s junk', '-1s']) {
      assert.throws(() => parseDuration(bad), new RegExp(`"${bad}" is not a duration`));
    }
  });
});

describe('parseOutputFormat', () => {
  it('accepts table, json and yaml', () => {
    for (const format of ['table', 'json', 'yaml']) assert.equal(parseOutputFormat(format), format);
  });

  it('refuses anything else, naming the value', () => {
    assert.throws(() => parseOutputFormat('xml'), /--output must be one of table, json, yaml, got "xml"/);
  });
});

describe('list flags', () => {
  it('splits a comma-separated value into trimmed items', () => {
    assert.deepEqual(listItems('shop, web'), ['shop', 'web']);
    assert.deepEqual(collectList('c', ['a', 'b']), ['a', 'b', 'c']);
  });

  it('refuses an empty value or an empty item, so an unset variable never widens a selection', () => {
    for (const bad of ['', '  ']) assert.throws(() => listItems(bad), /the value is empty/);
    for (const bad of ['shop,', ',shop', 'a,,b']) assert.throws(() => listItems(bad), /empty item/);
    assert.throws(() => collectValue('', undefined), /the value is empty/);
  });

  it('reads pairs, and refuses a mapping without a target', () => {
    const mapping = pairsParser({ separator: ':', what: 'a mapping (source:target)', valueRequired: true });
    assert.deepEqual(mapping('a:b, c:d', undefined), { a: 'b', c: 'd' });
    assert.throws(() => mapping('a:', undefined), /"a:" is not a mapping \(source:target\)/);
    assert.throws(() => mapping('', undefined), /the value is empty/);
  });
});
