import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globToRegExp, labelSelectorProblem } from '../../src/api/index.ts';
import { secretsSelection } from '../../src/backup/index.ts';

describe('namespace globs', () => {
  it('match as shell globs, anchored', () => {
    const cases: [string, string, boolean][] = [
      ['la-*', 'la-prod', true],
      ['la-*', 'xla-prod', false],
      ['*-prod', 'la-prod', true],
      ['shop', 'shop', true],
      ['shop', 'shop2', false],
      ['team-?', 'team-a', true],
      ['team-?', 'team-ab', false],
      ['team-[ab]', 'team-b', true],
      ['team-[ab]', 'team-c', false],
      ['a.b', 'axb', false],
    ];
    for (const [glob, name, expected] of cases)
      assert.equal(globToRegExp(glob).test(name), expected, `${glob} ~ ${name}`);
  });
});

describe('label selector syntax', () => {
  it('accepts what the API server accepts', () => {
    for (const ok of [
      'app=web',
      'app==web',
      'app!=web',
      'app',
      '!app',
      'app in (web, api)',
      'tier notin (db)',
      'app=web,tier!=db',
      'example.com/team=a',
      'app=',
    ]) {
      assert.equal(labelSelectorProblem(ok), undefined, ok);
    }
  });

  it('names the requirement that is wrong', () => {
    assert.equal(labelSelectorProblem('app=web,=db'), '"=db" is not a label requirement');
    assert.equal(labelSelectorProblem('app in web'), '"app in web" is not a label requirement');
  });
});

describe('secretsSelection (the Secrets line of describe)', () => {
  it('agrees with the resource filters: excluded by includeSecrets, by the excluded or the included resources', () => {
    assert.deepEqual(secretsSelection({}), { included: true });
    assert.deepEqual(secretsSelection({ includedResources: ['*'] }), { included: true });
    assert.deepEqual(secretsSelection({ includedResources: ['configmaps', 'secret'] }), { included: true });
    assert.deepEqual(secretsSelection({ includeSecrets: false }), {
      included: false,
      reason: 'includeSecrets=false',
    });
    assert.deepEqual(secretsSelection({ excludedResources: ['secrets'] }), {
      included: false,
      reason: 'in the excluded resources',
    });
    assert.deepEqual(secretsSelection({ includedResources: ['configmaps'] }), {
      included: false,
      reason: 'not in the included resources',
    });
  });
});
