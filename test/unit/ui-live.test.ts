// The dashboard's HTTP side without a browser: its API client and its reader of the event stream, against
// a small local server.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { DashboardChange } from '../../src/api/index.ts';
import { ApiError, DashboardApi } from '../../src/ui/api.ts';
import { followEvents, reconnectDelay, type LiveStatus } from '../../src/ui/live.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const server = createServer((req, res) => handler(req, res));
let base = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ui/api/`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

const change = (name: string): DashboardChange => ({ kind: 'Backup', name, type: 'MODIFIED' });

describe("the dashboard's API client", () => {
  it('sends the bearer token it holds, and none when it holds none', async () => {
    const seen: (string | undefined)[] = [];
    handler = (req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ backups: [] }));
    };
    let token: string | undefined = undefined;
    const api = new DashboardApi({ base, token: () => token });
    await api.backups();
    token = 'abc.def';
    assert.deepEqual(await api.backups(), { backups: [] });
    assert.deepEqual(seen, [undefined, 'Bearer abc.def']);
  });

  it('turns an error answer into its `error` text and status, and tells the app of a 401', async () => {
    let unauthorized = 0;
    const api = new DashboardApi({ base, token: () => undefined, onUnauthorized: () => unauthorized++ });
    handler = (_req, res) => {
      res.statusCode = 409;
      res.end(JSON.stringify({ error: 'backup nightly-1 is delete-locked until 2027-01-01' }));
    };
    await assert.rejects(api.deleteBackup('nightly-1'), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 409);
      assert.equal(e.message, 'backup nightly-1 is delete-locked until 2027-01-01');
      return true;
    });
    handler = (_req, res) => {
      res.statusCode = 401;
      res.end(JSON.stringify({ error: 'no valid bearer token' }));
    };
    await assert.rejects(api.session(), { status: 401, message: 'no valid bearer token' });
    assert.equal(unauthorized, 1);
    handler = (_req, res) => {
      res.statusCode = 502;
      res.end('Bad Gateway from a proxy');
    };
    await assert.rejects(api.overview(), { status: 502, message: 'Bad Gateway from a proxy' });
  });

  it('says so when the server cannot be reached', async () => {
    const api = new DashboardApi({ base: 'http://127.0.0.1:1/ui/api/', token: () => undefined });
    await assert.rejects(api.session(), (e: unknown) => e instanceof ApiError && e.status === 0);
  });

  it('sends the restore request as JSON, and names in paths escaped', async () => {
    const requests: { method: string | undefined; url: string | undefined; body: string }[] = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        requests.push({ method: req.method, url: req.url, body });
        res.end(JSON.stringify({ name: 'r-1', phase: 'New' }));
      });
    };
    const api = new DashboardApi({ base, token: () => undefined });
    assert.deepEqual(await api.createRestore({ backupName: 'b 1' }), { name: 'r-1', phase: 'New' });
    await api.scheduleAction('night/ly', 'run');
    assert.deepEqual(requests, [
      { method: 'POST', url: '/ui/api/restores', body: '{"backupName":"b 1"}' },
      { method: 'POST', url: '/ui/api/schedules/night%2Fly/run', body: '' },
    ]);
  });

  it('sends a new schedule with POST, and an edit with PUT, clearing a field with null', async () => {
    const requests: { method: string | undefined; url: string | undefined; body: string }[] = [];
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        requests.push({ method: req.method, url: req.url, body });
        res.statusCode = req.method === 'POST' ? 201 : 200;
        res.end(JSON.stringify({ name: 'nightly', schedule: '@daily', paused: false, healthy: true }));
      });
    };
    const api = new DashboardApi({ base, token: () => undefined });
    assert.equal((await api.createSchedule({ name: 'nightly', schedule: '@daily' })).name, 'nightly');
    await api.editSchedule('night ly', { schedule: '@hourly', ttl: null });
    assert.deepEqual(requests, [
      { method: 'POST', url: '/ui/api/schedules', body: '{"name":"nightly","schedule":"@daily"}' },
      { method: 'PUT', url: '/ui/api/schedules/night%20ly', body: '{"schedule":"@hourly","ttl":null}' },
    ]);
  });
});

describe('the event-stream reader', () => {
  it('hands over each change, with the token in a header, and reconnects when the stream ends', async () => {
    let connections = 0;
    const auth: (string | undefined)[] = [];
    handler = (req, res) => {
      connections++;
      auth.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // A change split across writes, an event of another name, a broken one: only changes arrive.
      res.write(`: hello\n\nevent: change\ndata: ${JSON.stringify(change(`b${connections}`)).slice(0, 10)}`);
      setTimeout(() => {
        res.write(`${JSON.stringify(change(`b${connections}`)).slice(10)}\n\n`);
        res.write('event: other\ndata: {}\n\nevent: change\ndata: {oops\n\n');
        res.end();
      }, 10);
    };
    const stop = new AbortController();
    const changes: string[] = [];
    const statuses: LiveStatus[] = [];
    const following = followEvents({
      url: `${base}events`,
      headers: () => ({ authorization: 'Bearer t' }),
      signal: stop.signal,
      initialDelayMs: 20,
      onStatus: (s) => statuses.push(s),
      onChange: (c) => {
        changes.push(c.name);
        if (changes.length === 2) stop.abort();
      },
    });
    await following;
    assert.deepEqual(changes, ['b1', 'b2']);
    assert.deepEqual(auth, ['Bearer t', 'Bearer t']);
    assert.deepEqual(statuses, ['connecting', 'live', 'retrying', 'live']);
  });

  it('backs off while the server refuses, and stops at a 401', async () => {
    let calls = 0;
    const times: number[] = [];
    handler = (_req, res) => {
      calls++;
      times.push(Date.now());
      res.statusCode = calls < 3 ? 503 : 401;
      res.end(JSON.stringify({ error: 'nope' }));
    };
    const statuses: LiveStatus[] = [];
    await followEvents({
      url: `${base}events`,
      headers: () => ({}),
      signal: new AbortController().signal,
      initialDelayMs: 40,
      onStatus: (s) => statuses.push(s),
      onChange: () => assert.fail('no change expected'),
    });
    assert.equal(calls, 3);
    assert.deepEqual(statuses, ['connecting', 'retrying', 'retrying', 'unauthorized']);
    const [t0 = 0, t1 = 0, t2 = 0] = times;
    // The second wait is about twice the first (each cut by at most 20% jitter).
    assert.ok(t1 - t0 >= 0.8 * 80 - 5, `first wait ${t1 - t0} ms`);
    assert.ok(t2 - t1 >= 0.8 * 160 - 5, `second wait ${t2 - t1} ms`);
  });

  it('waits longer after each failure, up to a cap, with jitter only ever shortening it', () => {
    const delays = [0, 1, 2, 3, 10, 50].map((attempt) =>
      reconnectDelay(attempt, { initialMs: 1000, maxMs: 30_000, random: () => 0 }),
    );
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 30_000, 30_000]);
    assert.equal(reconnectDelay(1, { initialMs: 1000, maxMs: 30_000, random: () => 1 }), 1600);
  });
});
