import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SseParser, type ServerSentEvent } from '../../src/ui/sse.ts';

function parseInPieces(text: string, size: number): ServerSentEvent[] {
  const parser = new SseParser();
  const events: ServerSentEvent[] = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
  return events;
}

describe('the event-stream parser', () => {
  const stream =
    ': a comment, as servers send to keep a connection open\n\n' +
    'event: change\ndata: {"kind":"Backup","name":"nightly-1","type":"ADDED"}\n\n' +
    'event: change\r\ndata:{"kind":"Schedule",\r\ndata: "name":"nightly"}\r\nid: 7\r\n\r\n' +
    'data: no event field\r\r' +
    'event: change\ndata: not finished yet';

  const expected: ServerSentEvent[] = [
    { event: 'change', data: '{"kind":"Backup","name":"nightly-1","type":"ADDED"}' },
    { event: 'change', data: '{"kind":"Schedule",\n"name":"nightly"}', id: '7' },
    { event: 'message', data: 'no event field', id: '7' },
  ];

  it('reads events with their names, joined data lines and ids, after any line ending', () => {
    assert.deepEqual(new SseParser().push(stream), expected);
  });

  it('reads the same events however the stream is cut into chunks, even between "\\r" and "\\n"', () => {
    for (const size of [1, 2, 3, 7, 64])
      assert.deepEqual(parseInPieces(stream, size), expected, `chunks of ${size}`);
  });

  it('keeps an unfinished event until its blank line comes', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('event: change\ndata: {"a":1}\n'), []);
    assert.deepEqual(parser.push('\n'), [{ event: 'change', data: '{"a":1}' }]);
  });

  it('dispatches no event without data, and drops the name it had', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('event: change\n\ndata: x\n\n'), [{ event: 'message', data: 'x' }]);
  });

  it('strips one space after the colon, no more', () => {
    assert.deepEqual(new SseParser().push('data:  two spaces\n\n'), [
      { event: 'message', data: ' two spaces' },
    ]);
  });
});
