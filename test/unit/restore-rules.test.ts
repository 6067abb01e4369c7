import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from '../../src/kube/index.ts';
import {
  TransformRulesError,
  applyTransformRules,
  parseTransformRules,
  rulesFromConfigMap,
  type TransformRule,
} from '../../src/restore/rules.ts';

const claim = (name: string, namespace: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name, namespace, labels: { foo: 'bar', test: 'yes' }, ...extra },
  spec: { storageClassName: 'standard', accessModes: ['ReadWriteOnce'] },
});

const claimTarget = (object: KubeObject, sourceNamespace?: string) => ({
  groupResource: 'persistentvolumeclaims',
  kind: 'PersistentVolumeClaim',
  group: '',
  object,
  ...(sourceNamespace ? { sourceNamespace } : {}),
});

const deployment = (name = 'test-web', namespace = 'bar'): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels: { app: 'web' } },
  spec: {
    replicas: 3,
    template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } },
  },
});

const deploymentTarget = (object: KubeObject) => ({
  groupResource: 'deployments.apps',
  kind: 'Deployment',
  group: 'apps',
  object,
});

/** Applies and expects success, checking the input is untouched. */
function apply(rules: TransformRule[], target: Parameters<typeof applyTransformRules>[1]) {
  const before = structuredClone(target.object);
  const result = applyTransformRules(rules, target);
  assert.deepEqual(target.object, before, 'the input is not changed');
  if ('error' in result) assert.fail(`unexpected error: ${JSON.stringify(result.error)}`);
  return result;
}

describe("Velero's resource-modifier examples", () => {
  it('the YAML template replaces the storage class and removes a label of matching claims only', () => {
    // Velero's docs, "YAML template", unchanged.
    const rules = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions:
     groupResource: persistentvolumeclaims
     resourceNameRegex: "^mysql.*$"
     namespaces:
     - bar
     - foo
     labelSelector:
        matchLabels:
           foo: bar
  patches:
  - operation: replace
    path: "/spec/storageClassName"
    value: "premium"
  - operation: remove
    path: "/metadata/labels/test"
`,
      'modifiers.yaml',
    );
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.name, 'rule 1');
    const result = apply(rules, claimTarget(claim('mysql-data', 'foo')));
    assert.deepEqual(result, {
      applied: ['rule 1'],
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'mysql-data', namespace: 'foo', labels: { foo: 'bar' } },
        spec: { storageClassName: 'premium', accessModes: ['ReadWriteOnce'] },
      },
    });
    for (const other of [
      claim('postgres-data', 'foo'),
      claim('mysql-data', 'baz'),
      claim('mysql-data', 'bar', { labels: { foo: 'other', test: 'yes' } }),
    ]) {
      assert.deepEqual(apply(rules, claimTarget(other)), { applied: [], object: other });
    }
  });

  it('a test operation makes the patch conditional: when it fails the rule is simply not applied', () => {
    const rules = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions:
    groupResource: persistentvolumeclaims
    resourceNameRegex: ".*"
    namespaces:
    - bar
    - foo
  patches:
  - operation: test
    path: "/spec/storageClassName"
    value: "premium"
  - operation: replace
    path: "/spec/storageClassName"
    value: "standard"
`,
      'conditional.yaml',
    );
    const premium = claim('a', 'bar');
    (premium.spec as { storageClassName: string }).storageClassName = 'premium';
    const changed = apply(rules, claimTarget(premium));
    assert.deepEqual(changed.applied, ['rule 1']);
    assert.equal((changed.object.spec as { storageClassName: string }).storageClassName, 'standard');
    const other = claim('b', 'bar');
    (other.spec as { storageClassName: string }).storageClassName = 'gold';
    assert.deepEqual(apply(rules, claimTarget(other)), { applied: [], object: other });
  });

  it('complex values given as escaped JSON strings, and copy, work', () => {
    const rules = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^test-.*$"
    namespaces:
    - bar
    - foo
  patches:
    # Dealing with complex values by escaping the yaml
  - operation: add
    path: "/spec/template/spec/containers/0"
    value: "{\\"name\\": \\"nginx\\", \\"image\\": \\"nginx:1.14.2\\", \\"ports\\": [{\\"containerPort\\": 80}]}"
    # Copy Operator
  - operation: copy
    from: "/spec/template/spec/containers/0"
    path: "/spec/template/spec/containers/1"
`,
      'other.yaml',
    );
    const result = apply(rules, deploymentTarget(deployment()));
    const nginx = { name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] };
    assert.deepEqual((result.object.spec as { template: { spec: unknown } }).template.spec, {
      containers: [nginx, nginx, { name: 'web', image: 'web:1' }],
    });
  });

  it('a JSON merge patch removes an annotation', () => {
    const rules = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions:
    groupResource: pods
    namespaces:
    - ns1
  mergePatches:
  - patchData: |
      {
        "metadata": {
          "annotations": {
            "foo": null
          }
        }
      }
`,
      'merge.yaml',
    );
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns1', annotations: { foo: 'x', keep: 'y' } },
    };
    assert.deepEqual(apply(rules, { groupResource: 'pods', kind: 'Pod', group: '', object: pod }).object, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'ns1', annotations: { keep: 'y' } },
    });
  });

  it('matches in conditions select by field value, for a merge patch given in YAML', () => {
    const rules = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions:
    groupResource: persistentvolumeclaims
    matches:
    - path: "/spec/storageClassName"
      value: "premium"
  mergePatches:
  - patchData: |
      metadata:
        annotations:
          foo: null
          tier: gold
`,
      'matches.yaml',
    );
    const premium = claim('a', 'x', { annotations: { foo: '1' } });
    (premium.spec as { storageClassName: string }).storageClassName = 'premium';
    assert.deepEqual(apply(rules, claimTarget(premium)).object.metadata.annotations, { tier: 'gold' });
    const standard = claim('b', 'x', { annotations: { foo: '1' } });
    assert.deepEqual(apply(rules, claimTarget(standard)).applied, []);
    const noClass = claim('c', 'x');
    delete (noClass.spec as { storageClassName?: string }).storageClassName;
    assert.deepEqual(apply(rules, claimTarget(noClass)).applied, [], 'a missing path does not match');
  });

  it('a ConfigMap holding a rules file, as Velero stores it, gives its rules', () => {
    const rules = rulesFromConfigMap({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'modifiers', namespace: 'velero' },
      data: {
        'modifiers.yaml':
          'version: v1\nresourceModifierRules:\n- conditions: {groupResource: "*"}\n  patches: [{operation: add, path: /metadata/labels/x, value: y}]\n',
      },
    });
    assert.equal(rules.length, 1);
  });
});

describe('rule conditions', () => {
  const rule = (conditions: string, name = 'r') =>
    parseTransformRules(
      `version: v1\nresourceModifierRules:\n- name: ${name}\n  conditions: ${conditions}\n  mergePatches: [{patchData: '{"metadata":{"labels":{"hit":"yes"}}}'}]\n`,
      'test',
    );
  const hits = (rules: TransformRule[], target: Parameters<typeof applyTransformRules>[1]) =>
    apply(rules, target).applied.length > 0;
  const configMap = (namespace = 'shop'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace },
  });
  const cmTarget = (object = configMap()) => ({
    groupResource: 'configmaps',
    kind: 'ConfigMap',
    group: '',
    object,
  });

  it('groupResource globs follow Velero: * stays in the core group, *.apps a group, ** everything', () => {
    const cases: [string, boolean, boolean][] = [
      // pattern, matches configmaps, matches deployments.apps
      ['"*"', true, false],
      ['"*.apps"', false, true],
      ['"*.*"', false, true],
      ['"**"', true, true],
      ['"{configmaps,deployments.apps}"', true, true],
      ['"deploy?ents.apps"', false, true],
      ['"[cd]*"', true, false],
      ['"[!c]*.apps"', false, true],
      ['configmaps', true, false],
    ];
    for (const [pattern, cm, deploy] of cases) {
      const rules = rule(`{groupResource: ${pattern}}`);
      assert.equal(hits(rules, cmTarget()), cm, `${pattern} ~ configmaps`);
      assert.equal(hits(rules, deploymentTarget(deployment())), deploy, `${pattern} ~ deployments.apps`);
    }
  });

  it('kind matches the kind in any group, or in the group given', () => {
    assert.equal(hits(rule('{kind: Deployment}'), deploymentTarget(deployment())), true);
    assert.equal(hits(rule('{kind: deployment}'), deploymentTarget(deployment())), true);
    assert.equal(hits(rule('{kind: Deployment.apps}'), deploymentTarget(deployment())), true);
    assert.equal(hits(rule('{kind: Deployment.extensions}'), deploymentTarget(deployment())), false);
    assert.equal(hits(rule('{kind: ConfigMap}'), deploymentTarget(deployment())), false);
  });

  it('namespaces are globs matched against the backed-up namespace when it is given', () => {
    const rules = rule('{groupResource: configmaps, namespaces: [shop, "prod-*"]}');
    assert.equal(hits(rules, cmTarget(configMap('shop'))), true);
    assert.equal(hits(rules, cmTarget(configMap('prod-eu'))), true);
    assert.equal(hits(rules, cmTarget(configMap('staging'))), false);
    // Restored from shop into shop-copy: Velero matches the namespace of the backup.
    assert.equal(hits(rules, { ...cmTarget(configMap('shop-copy')), sourceNamespace: 'shop' }), true);
    assert.equal(hits(rules, { ...cmTarget(configMap('shop')), sourceNamespace: 'other' }), false);
    assert.equal(
      hits(rule('{groupResource: configmaps, namespaces: ["*"]}'), cmTarget(configMap('x'))),
      true,
    );
  });

  it('namespaces do not filter cluster-scoped objects', () => {
    const rules = rule('{groupResource: persistentvolumes, namespaces: [shop]}');
    const pv: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv-1' } };
    assert.equal(
      hits(rules, { groupResource: 'persistentvolumes', kind: 'PersistentVolume', group: '', object: pv }),
      true,
    );
  });

  it('resourceNameRegex searches the name like Go does, with leading flags', () => {
    assert.equal(hits(rule('{groupResource: configmaps, resourceNameRegex: "^c$"}'), cmTarget()), true);
    assert.equal(hits(rule('{groupResource: configmaps, resourceNameRegex: "c"}'), cmTarget()), true);
    assert.equal(hits(rule('{groupResource: configmaps, resourceNameRegex: "^C$"}'), cmTarget()), false);
    assert.equal(hits(rule('{groupResource: configmaps, resourceNameRegex: "(?i)^C$"}'), cmTarget()), true);
    assert.equal(
      hits(rule('{groupResource: configmaps, resourceNameRegex: "^(?P<x>c)$"}'), cmTarget()),
      true,
    );
  });

  it('a label selector may be the object form or, ours, the string form', () => {
    const labelled = {
      ...configMap(),
      metadata: { name: 'c', namespace: 'shop', labels: { app: 'web', tier: 'a' } },
    };
    const objectForm = rule(
      '{groupResource: configmaps, labelSelector: {matchExpressions: [{key: tier, operator: In, values: [a, b]}]}}',
    );
    assert.equal(hits(objectForm, cmTarget(labelled)), true);
    assert.equal(hits(objectForm, cmTarget()), false);
    assert.equal(
      hits(rule('{groupResource: configmaps, labelSelector: "app=web,tier notin (b)"}'), cmTarget(labelled)),
      true,
    );
  });
});

describe('applying rules', () => {
  const rules = parseTransformRules(
    `version: v1
resourceModifierRules:
- name: one replica
  conditions: {groupResource: deployments.apps}
  patches:
  - {operation: replace, path: /spec/replicas, value: "1"}
  - {operation: add, path: /metadata/labels/scaled, value: '"true"'}
- name: mark scaled
  conditions:
    groupResource: deployments.apps
    labelSelector: {matchLabels: {scaled: "true"}}
  mergePatches:
  - patchData: '{"metadata": {"annotations": {"never": "applied"}}}'
- name: annotate
  conditions: {kind: Deployment}
  mergePatches:
  - patchData: '{"metadata": {"annotations": {"restored": "yes"}}}'
  - patchData: '{"spec": {"paused": true}}'
`,
    'rules.yaml',
  );

  it('applies matching rules in order, each seeing the object as it was before any rule', () => {
    const result = apply(rules, deploymentTarget(deployment()));
    assert.deepEqual(result, {
      applied: ['one replica', 'annotate'],
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: 'test-web',
          namespace: 'bar',
          labels: { app: 'web', scaled: 'true' },
          annotations: { restored: 'yes' },
        },
        spec: {
          replicas: 1,
          paused: true,
          template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } },
        },
      },
    });
  });

  it('decodes values as Velero does, and takes YAML-typed values as they are', () => {
    const ruleSet = parseTransformRules(
      `version: v1
resourceModifierRules:
- conditions: {groupResource: configmaps}
  patches:
  - {operation: add, path: /data/number, value: "1"}
  - {operation: add, path: /data/float, value: "-2.5e3"}
  - {operation: add, path: /data/quoted, value: '"1"'}
  - {operation: add, path: /data/bool, value: "true"}
  - {operation: add, path: /data/null, value: "null"}
  - {operation: add, path: /data/text, value: premium}
  - {operation: add, path: /data/hex, value: "0xdead"}
  - {operation: add, path: /data/underscored, value: "1_000"}
  - {operation: add, path: /data/version, value: "1.2.3"}
  - {operation: add, path: /data/escaped, value: 'line\\none \\"q\\"'}
  - {operation: add, path: /data/literal, value: 'C:\\path "x"'}
  - {operation: add, path: /data/yamlNull, value: null}
  - {operation: add, path: /data/list, value: '["a", 2]'}
  - {operation: add, path: /data/empty}
  - {operation: add, path: /data/yamlNumber, value: 7}
  - {operation: add, path: /data/yamlMap, value: {a: [1, b]}}
  - {operation: add, path: /data/slash~1key, value: "x"}
`,
      'values',
    );
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    assert.deepEqual(
      apply(ruleSet, { groupResource: 'configmaps', kind: 'ConfigMap', group: '', object: cm }).object.data,
      {
        number: 1,
        float: -2500,
        quoted: '1',
        bool: true,
        null: null,
        text: 'premium',
        hex: '0xdead',
        underscored: '1_000',
        version: '1.2.3',
        escaped: 'line\none "q"',
        literal: 'C:\\path "x"',
        yamlNull: '',
        list: ['a', 2],
        empty: '',
        yamlNumber: 7,
        yamlMap: { a: [1, 'b'] },
        'slash/key': 'x',
      },
    );
  });

  it('never shares patch values between results, nor changes the rules', () => {
    const ruleSet = parseTransformRules(
      'version: v1\nresourceModifierRules:\n- conditions: {groupResource: configmaps}\n  patches: [{operation: add, path: /data/v, value: {a: 1}}]\n',
      'shared',
    );
    const cm: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    const target = { groupResource: 'configmaps', kind: 'ConfigMap', group: '', object: cm };
    const first = apply(ruleSet, target).object.data as { v: { a: number } };
    first.v.a = 99;
    const second = apply(ruleSet, target).object.data as { v: { a: number } };
    assert.equal(second.v.a, 1);
    assert.deepEqual(ruleSet[0]?.patches, [{ op: 'add', path: '/data/v', value: { a: 1 } }]);
  });

  it('reports a patch that cannot apply as an error naming the rule and the operation', () => {
    const cases: [string, string][] = [
      [
        '{operation: replace, path: /spec/missing, value: x}',
        'patches[0] (replace /spec/missing): the path does not exist',
      ],
      [
        '{operation: remove, path: /metadata/annotations/x}',
        'patches[0] (remove /metadata/annotations/x): the path does not exist',
      ],
      [
        '{operation: add, path: /metadata/annotations/x, value: y}',
        'patches[0] (add /metadata/annotations/x): the parent of the path does not exist',
      ],
      [
        '{operation: add, path: /spec/template/spec/containers/5, value: "{}"}',
        'patches[0] (add /spec/template/spec/containers/5): the array index is past the end of the array',
      ],
      [
        '{operation: copy, from: /spec/nothing, path: /spec/x}',
        'patches[0] (copy /spec/x): the from path does not exist',
      ],
      ['{operation: remove, path: /metadata}', 'the patched result lacks apiVersion, kind or metadata'],
      ['{operation: replace, path: /metadata/name, value: ""}', 'the patched result has no metadata.name'],
    ];
    for (const [patch, message] of cases) {
      const ruleSet = parseTransformRules(
        `version: v1\nresourceModifierRules:\n- name: broken\n  conditions: {groupResource: deployments.apps}\n  patches:\n  - {operation: test, path: /spec/replicas, value: "3"}\n  - ${patch}\n`,
        'broken.yaml',
      );
      const object = deployment();
      const before = structuredClone(object);
      const result = applyTransformRules(ruleSet, deploymentTarget(object));
      assert.deepEqual(
        result,
        { error: { rule: 'broken', message: message.replace('patches[0]', 'patches[1]') } },
        patch,
      );
      assert.deepEqual(object, before);
    }
  });

  it('reports a merge patch that leaves no Kubernetes object', () => {
    const ruleSet = parseTransformRules(
      'version: v1\nresourceModifierRules:\n- conditions: {groupResource: "**"}\n  mergePatches: [{patchData: "{kind: null}"}]\n',
      'm',
    );
    assert.deepEqual(applyTransformRules(ruleSet, deploymentTarget(deployment())), {
      error: { rule: 'rule 1', message: 'the patched result lacks apiVersion, kind or metadata' },
    });
  });
});

describe('parseTransformRules errors', () => {
  const good = '- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /spec/x}]';

  function fails(
    yamlText: string,
    expected: { rule?: string; field: string; value: string; reason: RegExp },
  ) {
    assert.throws(
      () => parseTransformRules(yamlText, 'rules.yaml'),
      (error: unknown) => {
        assert.ok(error instanceof TransformRulesError, String(error));
        assert.equal(error.source, 'rules.yaml');
        assert.equal(error.rule, expected.rule);
        assert.equal(error.field, expected.field);
        assert.equal(error.value, expected.value);
        assert.match(error.reason, expected.reason);
        assert.ok(error.message.startsWith('rules.yaml: '), error.message);
        assert.ok(error.message.includes(expected.field), error.message);
        if (expected.rule) assert.ok(error.message.includes(`rule "${expected.rule}"`), error.message);
        return true;
      },
      yamlText,
    );
  }

  it('name the source, the rule, the field and the value in the message', () => {
    assert.throws(
      () =>
        parseTransformRules(
          'version: v1\nresourceModifierRules:\n- name: web\n  conditions: {groupResource: pods, resourceNameRegex: "(["}\n  patches: [{operation: remove, path: /x}]\n',
          'rules.yaml',
        ),
      {
        name: 'TransformRulesError',
        message:
          /^rules\.yaml: rule "web": resourceModifierRules\[0\]\.conditions\.resourceNameRegex "\(\[": not a valid regular expression: /,
      },
    );
  });

  it('reject bad documents', () => {
    fails('version: v1\n  bad: [', { field: 'yaml', value: 'line 1, column 10', reason: /./ });
    fails('version: v1\nversion: v1\nresourceModifierRules: []', {
      field: 'yaml',
      value: 'line 2, column 1',
      reason: /unique/i,
    });
    fails('- a\n- b', { field: 'document', value: '["a","b"]', reason: /a rules file is a mapping/ });
    fails(`version: v1\nrules: []\nresourceModifierRules:\n${good}`, {
      field: 'rules',
      value: 'rules',
      reason: /unknown field/,
    });
    fails(`version: v2\nresourceModifierRules:\n${good}`, {
      field: 'version',
      value: 'v2',
      reason: /unsupported version/,
    });
    fails(`resourceModifierRules:\n${good}`, { field: 'version', value: '', reason: /unsupported version/ });
    fails('version: v1\nresourceModifierRules: []', {
      field: 'resourceModifierRules',
      value: '[]',
      reason: /non-empty list/,
    });
  });

  it('reject bad rules', () => {
    const doc = (rule: string) => `version: v1\nresourceModifierRules:\n${rule}`;
    const r = 'resourceModifierRules[0]';
    fails(doc('- just text'), {
      rule: 'rule 1',
      field: r,
      value: 'just text',
      reason: /a rule is a mapping/,
    });
    fails(doc(`${good}\n- name: ""\n  conditions: {groupResource: pods}`), {
      rule: 'rule 2',
      field: 'resourceModifierRules[1].name',
      value: '',
      reason: /non-empty string/,
    });
    fails(
      doc(
        `- name: a\n  conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /x}]\n- name: a\n  conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /x}]`,
      ),
      {
        rule: 'a',
        field: 'resourceModifierRules[1].name',
        value: 'a',
        reason: /unique/,
      },
    );
    fails(doc(`${good}\n  strategicPatches: [{patchData: "{}"}]`), {
      rule: 'rule 1',
      field: `${r}.strategicPatches`,
      value: '',
      reason: /strategic merge patches are not supported/,
    });
    fails(doc(`${good}\n  patch: []`), {
      rule: 'rule 1',
      field: `${r}.patch`,
      value: 'patch',
      reason: /unknown field/,
    });
    fails(doc('- patches: [{operation: remove, path: /x}]'), {
      rule: 'rule 1',
      field: `${r}.conditions`,
      value: '',
      reason: /conditions is a mapping/,
    });
    fails(doc('- conditions: {groupResource: pods}'), {
      rule: 'rule 1',
      field: `${r}.patches`,
      value: '',
      reason: /needs patches or mergePatches/,
    });
    fails(doc(`${good}\n  mergePatches: [{patchData: "{}"}]`), {
      rule: 'rule 1',
      field: `${r}.patches`,
      value: '',
      reason: /only one of patches and mergePatches/,
    });
    fails(doc('- conditions: {groupResource: pods}\n  patches: {operation: remove}'), {
      rule: 'rule 1',
      field: `${r}.patches`,
      value: '{"operation":"remove"}',
      reason: /a list/,
    });
  });

  it('reject bad conditions', () => {
    const doc = (conditions: string) =>
      `version: v1\nresourceModifierRules:\n- name: c\n  conditions: ${conditions}\n  patches: [{operation: remove, path: /x}]`;
    const c = 'resourceModifierRules[0].conditions';
    const cases: [string, string, string, RegExp][] = [
      ['{groupResource: pods, namespace: [a]}', `${c}.namespace`, 'namespace', /unknown field/],
      ['{}', `${c}.groupResource`, '', /groupResource \(or kind\) is required/],
      ['{groupResource: pods, kind: Pod}', `${c}.kind`, 'Pod', /not both/],
      ['{groupResource: ""}', `${c}.groupResource`, '', /a resource name or glob/],
      ['{groupResource: "[pods"}', `${c}.groupResource`, '[pods', /not a valid glob: unclosed "\["/],
      ['{groupResource: "{pods"}', `${c}.groupResource`, '{pods', /unclosed "\{"/],
      ['{groupResource: "pods\\\\"}', `${c}.groupResource`, 'pods\\', /escapes nothing/],
      ['{groupResource: "[z-a]"}', `${c}.groupResource`, '[z-a]', /bad range/],
      ['{kind: "apps/Deployment"}', `${c}.kind`, 'apps/Deployment', /a kind, optionally with its group/],
      ['{groupResource: pods, resourceNameRegex: "(?U)a"}', `${c}.resourceNameRegex`, '(?U)a', /ungreedy/],
      ['{groupResource: pods, resourceNameRegex: 5}', `${c}.resourceNameRegex`, '5', /a string/],
      ['{groupResource: pods, namespaces: shop}', `${c}.namespaces`, 'shop', /a list/],
      ['{groupResource: pods, namespaces: ["[x"]}', `${c}.namespaces[0]`, '[x', /not a valid glob/],
      ['{groupResource: pods, namespaces: [7]}', `${c}.namespaces[0]`, '7', /a namespace name or glob/],
      [
        '{groupResource: pods, labelSelector: {matchLabels: {app: "-x"}}}',
        `${c}.labelSelector`,
        '{"matchLabels":{"app":"-x"}}',
        /"app=-x" is not a label requirement: invalid value "-x"/,
      ],
      [
        '{groupResource: pods, labelSelector: {matchExpressions: [{key: a, operator: Equals}]}}',
        `${c}.labelSelector`,
        '{"matchExpressions":[{"key":"a","operator":"Equals"}]}',
        /"Equals" is not a valid label selector operator/,
      ],
      [
        '{groupResource: pods, labelSelector: "app in web"}',
        `${c}.labelSelector`,
        'app in web',
        /expected "\("/,
      ],
      ['{groupResource: pods, matches: {path: /x}}', `${c}.matches`, '{"path":"/x"}', /a list/],
      [
        '{groupResource: pods, matches: [{value: x}]}',
        `${c}.matches[0].path`,
        '',
        /a JSON pointer is required/,
      ],
      [
        '{groupResource: pods, matches: [{path: x, value: y}]}',
        `${c}.matches[0].path`,
        'x',
        /starts with "\/"/,
      ],
      [
        '{groupResource: pods, matches: [{path: /x, valu: y}]}',
        `${c}.matches[0].valu`,
        'valu',
        /unknown field/,
      ],
    ];
    for (const [conditions, field, value, reason] of cases)
      fails(doc(conditions), { rule: 'c', field, value, reason });
  });

  it('reject bad patches and merge patches', () => {
    const doc = (patches: string) =>
      `version: v1\nresourceModifierRules:\n- name: p\n  conditions: {groupResource: pods}\n  ${patches}`;
    const p = 'resourceModifierRules[0].patches[0]';
    const m = 'resourceModifierRules[0].mergePatches[0]';
    const cases: [string, string, string, RegExp][] = [
      ['patches: ["remove /x"]', p, 'remove /x', /a mapping with operation/],
      [
        'patches: [{operation: delete, path: /x}]',
        `${p}.operation`,
        'delete',
        /one of add, remove, replace, move, copy, test/,
      ],
      ['patches: [{path: /x}]', `${p}.operation`, '', /one of add/],
      ['patches: [{operation: remove, path: /x, op: remove}]', `${p}.op`, 'op', /unknown field/],
      ['patches: [{operation: remove}]', `${p}.path`, '', /a JSON pointer is required/],
      ['patches: [{operation: remove, path: spec/x}]', `${p}.path`, 'spec/x', /starts with "\/"/],
      ['patches: [{operation: remove, path: /a~2b}]', `${p}.path`, '/a~2b', /"~" is written ~0/],
      ['patches: [{operation: move, path: /x}]', `${p}.from`, '', /a JSON pointer is required/],
      [
        'patches: [{operation: add, path: /x, value: "{oops"}]',
        `${p}.value`,
        '{oops',
        /read as JSON and this is not valid JSON/,
      ],
      ['patches: [{operation: add, path: /x, value: "[1,"}]', `${p}.value`, '[1,', /not valid JSON/],
      ['patches: [{operation: add, path: /x, value: "0123"}]', `${p}.value`, '0123', /not a JSON number/],
      ['patches: [{operation: add, path: /x, value: "+1"}]', `${p}.value`, '+1', /not a JSON number/],
      ['patches: [{operation: add, path: /x, value: "Inf"}]', `${p}.value`, 'Inf', /not a JSON number/],
      ['patches: [{operation: add, path: /x, value: "0x1p3"}]', `${p}.value`, '0x1p3', /not a JSON number/],
      ['mergePatches: [{patchData: "{a: [}"}]', `${m}.patchData`, '{a: [}', /not valid JSON or YAML/],
      ['mergePatches: [{patchData: "[1, 2]"}]', `${m}.patchData`, '[1,2]', /a merge patch is an object/],
      ['mergePatches: [{patchData: "x"}]', `${m}.patchData`, 'x', /a merge patch is an object/],
      ['mergePatches: [{data: "{}"}]', `${m}.data`, 'data', /unknown field/],
      ['mergePatches: ["{}"]', m, '{}', /a mapping with patchData/],
    ];
    for (const [patches, field, value, reason] of cases)
      fails(doc(patches), { rule: 'p', field, value, reason });
  });
});

describe('rulesFromConfigMap', () => {
  const cm = (data: unknown): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'modifiers', namespace: 'velero' },
    ...(data !== undefined ? { data } : {}),
  });
  const file =
    'version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n  patches: [{operation: remove, path: /x}]\n';

  it('reads the only data key, and names the ConfigMap and key in errors', () => {
    assert.equal(rulesFromConfigMap(cm({ 'rules.yaml': file })).length, 1);
    assert.throws(() => rulesFromConfigMap(cm({ 'rules.yaml': 'version: v9\nresourceModifierRules: []' })), {
      name: 'TransformRulesError',
      source: 'ConfigMap velero/modifiers (data.rules.yaml)',
      field: 'version',
    });
  });

  it('rejects a ConfigMap with no data key, several, or a value that is not text', () => {
    assert.throws(() => rulesFromConfigMap(cm(undefined)), {
      name: 'TransformRulesError',
      source: 'ConfigMap velero/modifiers',
      field: 'data',
      value: '',
      message: /the rules must be the ConfigMap's only data key \(found none\)/,
    });
    assert.throws(() => rulesFromConfigMap(cm({ a: file, b: file })), {
      name: 'TransformRulesError',
      field: 'data',
      value: 'a, b',
      message:
        /^ConfigMap velero\/modifiers: data "a, b": the rules must be the ConfigMap's only data key \(found 2\)$/,
    });
    assert.throws(() => rulesFromConfigMap(cm({ a: 3 })), { name: 'TransformRulesError', field: 'data.a' });
  });
});
