// The one parser of snapshot files: parseSnapshot (browsing, the archiver) checks restic's Snapshot JSON
// as restic decodes it (a field of the wrong type is an error, null is an absent field, unknown fields
// are dropped), and parseSnapshotInfo (check, forget, prune) is its view with the time parsed and absent
// host, user and tags as '' and [].
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNodeTime } from '../../src/repo/tree.ts';
import { parseSnapshot, parseSnapshotInfo } from '../../src/repo/index.ts';

const ID = 'ab'.repeat(32);
const TREE = 'cd'.repeat(32);
const PARENT = 'ef'.repeat(32);

describe('snapshot files', () => {
  it('parse restic’s snapshot JSON into both views', () => {
    const json = {
      time: '2024-05-06T07:08:09.123456789+02:00',
      parent: PARENT,
      tree: TREE,
      paths: ['/data'],
      hostname: 'node-1',
      username: 'root',
      uid: 1000,
      gid: 1000,
      excludes: ['*.tmp'],
      tags: ['a', 'b'],
      program_version: 'restic 0.14.0',
    };
    assert.deepEqual(parseSnapshot(json, ID), {
      id: ID,
      time: json.time,
      tree: TREE,
      paths: ['/data'],
      parent: PARENT,
      hostname: 'node-1',
      username: 'root',
      uid: 1000,
      gid: 1000,
      excludes: ['*.tmp'],
      tags: ['a', 'b'],
    });
    assert.deepEqual(parseSnapshotInfo(ID, json), {
      id: ID,
      time: json.time,
      instant: parseNodeTime(json.time),
      tree: TREE,
      paths: ['/data'],
      hostname: 'node-1',
      username: 'root',
      tags: ['a', 'b'],
      parent: PARENT,
    });
  });

  it('take null and missing optional fields for absent', () => {
    const json = { time: '2024-01-01T00:00:00Z', tree: TREE, paths: null, hostname: null, tags: null };
    assert.deepEqual(parseSnapshot(json, ID), { id: ID, time: json.time, tree: TREE, paths: [] });
    assert.deepEqual(parseSnapshotInfo(ID, json), {
      id: ID,
      time: json.time,
      instant: parseNodeTime(json.time),
      tree: TREE,
      paths: [],
      hostname: '',
      username: '',
      tags: [],
    });
  });

  it('refuse, in both views alike, what restic would not decode', () => {
    const good = { time: '2024-01-01T00:00:00Z', tree: TREE, paths: ['/'] };
    const cases: [string, unknown, RegExp][] = [
      ['not an object', ['a list'], /not a JSON object/],
      ['no time', { ...good, time: undefined }, /no time/],
      ['a bad time', { ...good, time: 'yesterday' }, /not RFC 3339/],
      ['no tree', { ...good, tree: undefined }, /no tree/],
      ['a tree that is not an id', { ...good, tree: 'abc' }, /tree is not an id/],
      ['a parent that is not an id', { ...good, parent: 'abc' }, /parent is not an id/],
      ['paths not a list of strings', { ...good, paths: '/' }, /paths is not a list of strings/],
      ['tags with a number', { ...good, tags: ['a', 1] }, /tags is not a list of strings/],
      ['a hostname that is a number', { ...good, hostname: 7 }, /hostname is not a string/],
    ];
    for (const [what, json, message] of cases) {
      const named = (error: unknown) => {
        assert.ok(error instanceof Error && error.name === 'CorruptDataError', what);
        assert.match(error.message, message, what);
        assert.match(error.message, new RegExp(`snapshots/${ID}`), what);
        return true;
      };
      assert.throws(() => parseSnapshot(json, ID), named);
      assert.throws(() => parseSnapshotInfo(ID, json), named);
    }
  });
});
