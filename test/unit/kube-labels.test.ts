import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LabelSelectorError,
  formatLabelSelector,
  labelSelectorFromObject,
  labelSelectorProblem,
  matchesLabels,
  parseLabelSelector,
  type LabelSelectorObject,
} from '../../src/api/index.ts';

const web = { app: 'web', tier: 'frontend', 'example.com/team': 'a', replicas: '3' };
const db = { app: 'db', tier: 'backend' };

function matching(selector: string): string[] {
  const parsed = parseLabelSelector(selector);
  const objects: [string, Record<string, string> | undefined][] = [
    ['web', web],
    ['db', db],
    ['bare', {}],
    ['none', undefined],
  ];
  return objects.filter(([, labels]) => matchesLabels(parsed, labels)).map(([name]) => name);
}

describe('label selectors in the string form', () => {
  it('match as the API server matches them', () => {
    const cases: [string, string[]][] = [
      ['', ['web', 'db', 'bare', 'none']],
      ['   ', ['web', 'db', 'bare', 'none']],
      ['app=web', ['web']],
      ['app==web', ['web']],
      ['app!=web', ['db', 'bare', 'none']],
      ['app in (web, db)', ['web', 'db']],
      ['app notin (web)', ['db', 'bare', 'none']],
      ['app', ['web', 'db']],
      ['!app', ['bare', 'none']],
      ['app,!example.com/team', ['db']],
      ['app=web,tier=backend', []],
      ['example.com/team=a', ['web']],
      ['app=', []],
      ['replicas>2', ['web']],
      ['replicas<3', []],
      ['tier in (backend,frontend),app!=db', ['web']],
    ];
    for (const [selector, expected] of cases) assert.deepEqual(matching(selector), expected, selector);
  });

  it('read keywords as keys and values where the API server does', () => {
    assert.equal(matchesLabels(parseLabelSelector('in in (notin)'), { in: 'notin' }), true);
    assert.equal(matchesLabels(parseLabelSelector('x=in'), { x: 'in' }), true);
  });

  it('read empty entries of a value list as the empty value', () => {
    assert.deepEqual(parseLabelSelector('x in (a,,b)').requirements, [
      { key: 'x', operator: 'In', values: ['', 'a', 'b'] },
    ]);
    assert.deepEqual(parseLabelSelector('x notin ()').requirements, [
      { key: 'x', operator: 'NotIn', values: [''] },
    ]);
    assert.equal(matchesLabels(parseLabelSelector('x in (a,)'), { x: '' }), true);
  });

  it('sort requirements by key and values, and print them back in that order', () => {
    const selector = parseLabelSelector('tier notin (b, a),app = web , !gone,here,n>5');
    assert.equal(formatLabelSelector(selector), 'app=web,!gone,here,n>5,tier notin (a,b)');
  });

  it('accept what the API server accepts', () => {
    for (const ok of [
      'app=web',
      'app==web',
      'app!=web',
      'app',
      '!app',
      '! app',
      'app in (web, api)',
      'app in(web)',
      'tier notin (db)',
      'app=web,tier!=db',
      'example.com/team=a',
      'app=',
      'a.b_c-d=E_f.g-1',
      `k=${'v'.repeat(63)}`,
      `${'p'.repeat(253)}/${'n'.repeat(63)}=x`,
    ]) {
      assert.doesNotThrow(() => parseLabelSelector(ok), ok);
    }
  });

  it('reject bad syntax with a LabelSelectorError naming the requirement', () => {
    const cases: [string, string, string][] = [
      ['app=web,=db', '=db', 'found "=", expected a key'],
      ['app in web', 'app in web', 'found "web", expected "("'],
      ['app in (web', 'app in (web', 'found the end, expected a value, "," or ")"'],
      ['app=web,', '', 'found the end, expected a key'],
      [',app', '', 'found the end, expected a key'],
      ['app=web)', 'app=web)', 'found ")", expected the end of the requirement'],
      ['!app=web', '!app=web', 'found "=" after "!app", expected the end'],
      ['app web', 'app web', 'found "web", expected one of in, notin, =, ==, !=, >, <'],
      ['app=(web)', 'app=(web)', 'found "(", expected a value'],
      ['app=a b', 'app=a b', 'found "b", expected the end of the requirement'],
    ];
    for (const [selector, requirement, reason] of cases) {
      assert.throws(
        () => parseLabelSelector(selector),
        (error: unknown) => {
          assert.ok(error instanceof LabelSelectorError);
          assert.equal(error.selector, selector);
          assert.equal(error.requirement, requirement);
          assert.equal(error.reason, reason);
          assert.equal(error.kind, 'syntax');
          assert.equal(
            error.message,
            `label selector ${JSON.stringify(selector)}: "${requirement}" is not a label requirement: ${reason}`,
          );
          return true;
        },
        selector,
      );
    }
  });

  it('reject keys and values that are not valid label keys and values', () => {
    const cases: [string, RegExp][] = [
      ['-app=web', /invalid key "-app": the name must be alphanumeric/],
      [`${'k'.repeat(64)}=v`, /the name must be at most 63 characters/],
      ['Example.com/app=web', /the prefix must be a lower-case DNS subdomain/],
      ['/app=web', /the prefix before "\/" must not be empty/],
      ['a/b/c=web', /at most one "\/"/],
      ['example.com/=web', /the name must not be empty/],
      ['app=-web', /invalid value "-web"/],
      ['app=web-', /invalid value "web-"/],
      [`app=${'v'.repeat(64)}`, /at most 63 characters/],
      ['app in (ok, b@d)', /invalid value "b@d"/],
      ['n>five', /operator Gt needs an integer value/],
    ];
    for (const [selector, reason] of cases) {
      assert.throws(
        () => parseLabelSelector(selector),
        (error: unknown) =>
          error instanceof LabelSelectorError && error.kind === 'invalid' && reason.test(error.reason),
        selector,
      );
    }
  });

  it('leave a Gt or Lt requirement unmatched by a value that is not an integer', () => {
    assert.equal(matchesLabels(parseLabelSelector('n>1'), { n: 'x2' }), false);
    assert.equal(matchesLabels(parseLabelSelector('n<10'), { n: '9' }), true);
  });
});

describe('label selectors in the object form', () => {
  it('match like the same requirements written as a string', () => {
    const selector = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['frontend', 'edge'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'example.com/team', operator: 'Exists' },
        { key: 'track', operator: 'NotIn', values: ['canary'] },
      ],
    });
    assert.equal(
      formatLabelSelector(selector),
      'app=web,example.com/team,!legacy,tier in (edge,frontend),track notin (canary)',
    );
    assert.equal(matchesLabels(selector, web), true);
    assert.equal(matchesLabels(selector, { ...web, legacy: 'yes' }), false);
    assert.equal(matchesLabels(selector, db), false);
  });

  it('match everything when empty', () => {
    assert.equal(matchesLabels(labelSelectorFromObject({}), undefined), true);
    assert.equal(matchesLabels(labelSelectorFromObject({ matchLabels: {} }), db), true);
  });

  it('reject what metav1.LabelSelectorAsSelector rejects, and what YAML can get wrong', () => {
    const cases: [unknown, string, RegExp][] = [
      [
        { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] },
        'matchExpressions[0] {"key":"a","operator":"Equals","values":["x"]}',
        /"Equals" is not a valid label selector operator/,
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] },
        'matchExpressions[0] {"key":"a","operator":"in","values":["x"]}',
        /"in" is not a valid label selector operator/,
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] },
        'matchExpressions[0] {"key":"a","operator":"In","values":[]}',
        /operator In needs at least one value/,
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
        'matchExpressions[0] {"key":"a","operator":"Exists","values":["x"]}',
        /operator Exists takes no values/,
      ],
      [
        { matchExpressions: [{ key: 'a', operator: 'In', value: ['x'] }] },
        'matchExpressions[0] {"key":"a","operator":"In","value":["x"]}',
        /unknown field "value"/,
      ],
      [{ matchLabels: { app: 3 } }, 'app=3', /the value of app must be a string/],
      [{ matchLabels: { app: 'web!' } }, 'app=web!', /invalid value "web!"/],
      [{ matchLabel: { app: 'web' } }, 'matchLabel', /unknown field/],
      [{ matchExpressions: { key: 'a' } }, 'matchExpressions', /must be a list/],
    ];
    for (const [input, requirement, reason] of cases) {
      assert.throws(
        () => labelSelectorFromObject(input as LabelSelectorObject),
        (error: unknown) => {
          assert.ok(error instanceof LabelSelectorError);
          assert.equal(error.selector, JSON.stringify(input));
          assert.equal(error.requirement, requirement);
          assert.match(error.reason, reason);
          return true;
        },
        JSON.stringify(input),
      );
    }
  });
});

describe('labelSelectorProblem', () => {
  it('is undefined for a valid selector and names the requirement otherwise', () => {
    assert.equal(labelSelectorProblem('app=web,tier in (a,b)'), undefined);
    assert.equal(labelSelectorProblem('app=web,=db'), '"=db" is not a label requirement');
    assert.equal(
      labelSelectorProblem('app=web,tier=-x'),
      "\"tier=-x\" is not a label requirement: invalid value \"-x\": alphanumeric, '-', '_' or '.', starting and ending alphanumeric, or empty",
    );
  });
});
