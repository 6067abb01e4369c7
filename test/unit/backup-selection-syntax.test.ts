import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globToRegExp, labelSelectorProblem } from '../../src/kube/index.ts';

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
