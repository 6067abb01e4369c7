import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressReporter } from '../../src/cli/progress.ts';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY, write: (chunk: string) => chunks.push(chunk) } };
}

describe('progress', () => {
  it('prints plain lines at most every interval when not on a terminal, and the final state at the end', () => {
    const { chunks, stream } = sink(false);
    let t = 0;
    const progress = progressReporter(stream, { intervalMs: 1000, now: () => t });
    t = 1000;
    progress.update(0, 7, 'namespaces');
    t = 1500;
    progress.update(3, 7, 'configmaps');
    progress.update(7, 7);
    progress.end();
    assert.deepEqual(chunks, ['0/7 items (0%)  namespaces\n', '7/7 items (100%)\n']);
  });

  it('does not repeat the last line at the end when it was already shown', () => {
    const { chunks, stream } = sink(false);
    const progress = progressReporter(stream, { intervalMs: 0, now: () => 5 });
    progress.update(2, 2);
    progress.end();
    assert.deepEqual(chunks, ['2/2 items (100%)\n']);
  });

  it('redraws a bar on a terminal and clears it at the end', () => {
    const { chunks, stream } = sink(true);
    const progress = progressReporter(stream, { intervalMs: 0, now: () => 5 });
    progress.update(1, 2, 'pods');
    progress.end();
    assert.match(chunks[0] ?? '', /^\r\[#+\.+\] 1\/2 items \(50%\) {2}pods/);
    assert.equal(chunks.at(-1), '\r\x1b[K');
  });

  it('shows the count known so far, without a percentage, until the total is final', () => {
    const { chunks, stream } = sink(false);
    const progress = progressReporter(stream, { intervalMs: 0, now: () => 5 });
    progress.update(6, 10, 'configmaps', { final: false });
    progress.update(12, 12, 'secrets', { final: false });
    progress.update(12, 12, undefined, { final: true });
    progress.end();
    assert.deepEqual(chunks, [
      '6/10 items known so far  configmaps\n',
      '12/12 items known so far  secrets\n',
      '12/12 items (100%)\n',
    ]);
  });

  it('draws the total becoming final at once, whatever the interval', () => {
    const { chunks, stream } = sink(true);
    const progress = progressReporter(stream, { intervalMs: 1000, now: () => 5000 });
    progress.update(1, 1, 'configmaps', { final: false });
    progress.update(3, 3, 'secrets', { final: false });
    progress.update(3, 3, undefined, { final: true });
    progress.end();
    assert.deepEqual(chunks.length, 3);
    assert.equal(chunks[0], '\r1/1 items known so far  configmaps\x1b[K');
    assert.match(chunks[1] ?? '', /^\r\[#+\] 3\/3 items \(100%\)/);
    assert.equal(chunks[2], '\r\x1b[K');
  });
});
