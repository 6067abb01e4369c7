import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hrefOf, parseRoute, type Route } from '../../src/ui/routes.ts';

describe('dashboard routes', () => {
  it('an empty hash and "#/" are the overview', () => {
    for (const hash of ['', '#', '#/', '#//']) assert.deepEqual(parseRoute(hash), { page: 'overview' }, hash);
  });

  it('name each page', () => {
    assert.deepEqual(parseRoute('#/schedules'), { page: 'schedules' });
    assert.deepEqual(parseRoute('#/locations/'), { page: 'locations' });
    assert.deepEqual(parseRoute('#/backups'), { page: 'backups', filter: {} });
    assert.deepEqual(parseRoute('#/backups/nightly-20261207'), { page: 'backup', name: 'nightly-20261207' });
    assert.deepEqual(parseRoute('#/restore'), { page: 'restore' });
    assert.deepEqual(parseRoute('#/restore?backup=nightly-1'), { page: 'restore', backup: 'nightly-1' });
    assert.deepEqual(parseRoute('#/restores/nightly-1-x7k2'), {
      page: 'restore-progress',
      name: 'nightly-1-x7k2',
    });
  });

  it("carry the backups table's filters in the query, ignoring unknown and empty ones", () => {
    assert.deepEqual(parseRoute('#/backups?phase=Failed&schedule=nightly&age=24h&color=red&location='), {
      page: 'backups',
      filter: { phase: 'Failed', schedule: 'nightly', age: '24h' },
    });
  });

  it('decode names, and call a malformed one not found rather than throw', () => {
    assert.deepEqual(parseRoute('#/backups/a%2Fb'), { page: 'backup', name: 'a/b' });
    assert.deepEqual(parseRoute('#/backups/%E0%A4%A'), { page: 'not-found', path: '/backups/%E0%A4%A' });
  });

  it('call anything else not found', () => {
    for (const hash of ['#/nope', '#/backups/a/b', '#/restores', '#/schedules/x', '#main'])
      assert.equal(parseRoute(hash).page, 'not-found', hash);
  });

  it('build hashes that parse back to the same route', () => {
    const routes: Route[] = [
      { page: 'overview' },
      { page: 'backups', filter: {} },
      { page: 'backups', filter: { phase: 'PartiallyFailed', namespace: 'shop', age: '7d' } },
      { page: 'backup', name: 'weird name/with?chars&' },
      { page: 'restore' },
      { page: 'restore', backup: 'a&b=c' },
      { page: 'restore-progress', name: 'r-1' },
      { page: 'schedules' },
      { page: 'locations' },
    ];
    for (const route of routes) assert.deepEqual(parseRoute(hrefOf(route)), route, hrefOf(route));
    assert.equal(hrefOf({ page: 'backups', filter: { phase: 'Failed' } }), '#/backups?phase=Failed');
  });
});
