import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, before, after } from 'node:test';
import { KubeConfigError, loadKubeConfig } from '../../src/kube/index.ts';

const kubeconfig = (server: string, context: string) => `apiVersion: v1
kind: Config
clusters:
- name: ${context}
  cluster:
    server: ${server}
users:
- name: ${context}
  user:
    token: secret-token
contexts:
- name: ${context}
  context:
    cluster: ${context}
    user: ${context}
current-context: ${context}
`;

describe('loadKubeConfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-kubeconfig-'));
    await writeFile(join(dir, 'one'), kubeconfig('https://one.example:6443', 'one'));
    await writeFile(join(dir, 'two'), kubeconfig('https://two.example:6443', 'two'));
    await mkdir(join(dir, 'home', '.kube'), { recursive: true });
    await writeFile(join(dir, 'home', '.kube', 'config'), kubeconfig('https://home.example:6443', 'home'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('prefers --kubeconfig over KUBECONFIG over ~/.kube/config', () => {
    const env = { KUBECONFIG: join(dir, 'two'), HOME: join(dir, 'home') };
    assert.equal(
      loadKubeConfig({ kubeconfig: join(dir, 'one'), env }).getCurrentCluster()?.server,
      'https://one.example:6443',
    );
    assert.equal(loadKubeConfig({ env }).getCurrentCluster()?.server, 'https://two.example:6443');
    assert.equal(
      loadKubeConfig({ env: { HOME: join(dir, 'home') } }).getCurrentCluster()?.server,
      'https://home.example:6443',
    );
  });

  it('merges a KUBECONFIG list, the first file deciding the current context', () => {
    const kc = loadKubeConfig({ env: { KUBECONFIG: `${join(dir, 'one')}:${join(dir, 'two')}` } });
    assert.deepEqual(
      kc
        .getContexts()
        .map((c) => c.name)
        .sort(),
      ['one', 'two'],
    );
    assert.equal(kc.getCurrentContext(), 'one');
    assert.equal(
      loadKubeConfig({
        context: 'two',
        env: { KUBECONFIG: `${join(dir, 'one')}:${join(dir, 'two')}` },
      }).getCurrentCluster()?.server,
      'https://two.example:6443',
    );
  });

  it('names the missing file', () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfig: join(dir, 'absent'), env: {} }),
      (error: unknown) =>
        error instanceof KubeConfigError &&
        error.message === `--kubeconfig "${join(dir, 'absent')}": no such file`,
    );
  });

  it('names the unknown context and the ones there are', () => {
    assert.throws(
      () => loadKubeConfig({ kubeconfig: join(dir, 'one'), context: 'prod', env: {} }),
      /context "prod" is not in the kubeconfig \(contexts: one\)/,
    );
  });

  it('says how to configure a cluster when there is none', () => {
    assert.throws(
      () => loadKubeConfig({ env: { HOME: join(dir, 'nowhere') } }),
      /no kubeconfig found: pass --kubeconfig, set KUBECONFIG/,
    );
  });
});
