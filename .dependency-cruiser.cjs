// The import-boundary check: DESIGN.md's "may import" column, enforced in CI by `npm run depcheck`.
// Each folder of src/ is a layer; a layer may import only the layers listed for it, and only through
// their index.ts (no deep imports across folders).
const mayImport = {
  api: [],
  kube: ['api'],
  storage: ['api'],
  archive: ['api'],
  repo: [],
  volumes: ['api', 'kube', 'repo', 'storage'],
  backup: ['api', 'kube', 'storage', 'archive', 'volumes'],
  restore: ['api', 'kube', 'storage', 'archive', 'volumes'],
  controller: ['api', 'kube', 'storage', 'archive', 'repo', 'volumes', 'backup', 'restore'],
  cli: ['api', 'kube', 'storage', 'archive', 'repo', 'volumes', 'backup', 'restore', 'controller'],
  ui: ['api'],
};
const layers = Object.keys(mayImport);

module.exports = {
  forbidden: [
    ...layers.map((layer) => {
      const forbiddenLayers = layers.filter((other) => other !== layer && !mayImport[layer].includes(other));
      return {
        name: `layer-${layer}`,
        comment: `src/${layer} may import only: ${mayImport[layer].join(', ') || 'nothing of ours'} (DESIGN.md)`,
        severity: 'error',
        from: { path: `^src/${layer}/` },
        to: { path: forbiddenLayers.length ? `^src/(${forbiddenLayers.join('|')})/` : '^$' },
      };
    }),
    {
      name: 'no-deep-imports',
      comment: 'import another layer through its index.ts only',
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/([^/]+)/', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$'] },
    },
    {
      name: 'src-stands-alone',
      comment: 'the product never imports tests, the testbed or benchmarks',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|testbed|bench)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
