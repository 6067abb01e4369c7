// The generator of docs/reliability.md: records in, the same Markdown out whatever their order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRecords, renderReport } from '../../scripts/reliability-report.ts';
import type { ReliabilityRecord } from '../helpers/reliability.ts';

const record = (
  subject: string,
  tried: string,
  cases: number,
  section: ReliabilityRecord['section'] = 'Bad input',
): ReliabilityRecord => ({
  section,
  subject,
  tried,
  cases,
  outcome: 'refused: ArchiveCorruptError',
  lost: 'nothing',
});

describe('the reliability report', () => {
  const generated = { date: '2026-01-02', commit: 'abc1234' };

  it('is the same for the same records in any order, rows sorted, identical rows merged by adding cases', () => {
    const records = [
      record('b reader', 'random', 10),
      record('a reader', 'mutated', 5),
      record('b reader', 'random', 7),
      record('x', 'flip', 3, 'Security'),
    ];
    const one = renderReport(records, generated);
    assert.equal(renderReport([...records].reverse(), generated), one);
    assert.match(one, /Generated on 2026-01-02 from commit abc1234: 3 checks, 25 cases\./);
    const bad = one.slice(one.indexOf('## Bad input'), one.indexOf('## Faults'));
    assert.ok(bad.indexOf('| a reader | mutated | 5 |') < bad.indexOf('| b reader | random | 17 |'), bad);
    assert.match(one, /## Faults\n\nNo test recorded in this section in this run\./);
    assert.match(one, /## Security\n\n\| under test[^\n]*\n[^\n]*\n\| x \| flip \| 3 \|/);
  });

  it('names the line of the record file that is not a record', () => {
    const good = JSON.stringify(record('a', 'b', 1));
    assert.deepEqual(parseRecords(`${good}\n\n`, 'r.jsonl'), [record('a', 'b', 1)]);
    assert.throws(() => parseRecords(`${good}\n{"section":"Other","cases":1}`, 'r.jsonl'), {
      message: 'r.jsonl line 2 is not a record: section "Other" is not one of Bad input, Faults, Security',
    });
    assert.throws(() => parseRecords('{"section":"Faults","cases":-1}', 'r.jsonl'), {
      message: 'r.jsonl line 1 is not a record: cases -1 is not a count',
    });
    assert.throws(() => parseRecords('{"section":"Faults","cases":1,"subject":"s"}', 'r.jsonl'), {
      message: 'r.jsonl line 1 is not a record: tried is not text',
    });
    assert.throws(() => parseRecords('nope', 'r.jsonl'), { message: 'r.jsonl line 1 is not JSON: "nope"' });
  });
});
