// `cairn version` as a user runs it, against the testbed cluster and without one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { cairn, envWithoutCluster, repoRoot } from '../helpers/cli.ts';
import { testbedEnv } from '../helpers/testbed.ts';

describe('cairn version', () => {
  it("prints the client version and the cluster's Kubernetes version", async () => {
    testbedEnv('KUBECONFIG');
    const result = await cairn(['version']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Client: v0\.1\.0 \(node v24\./m);
    assert.match(result.stdout, /^Kubernetes server: v1\.34\.4 at https:\/\/127\.0\.0\.1:\d+$/m);
  });

  it('prints JSON and YAML with -o', async () => {
    const json = await cairn(['version', '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as {
      client: { version: string };
      server: { kubernetesVersion: string };
    };
    assert.equal(report.client.version, 'v0.1.0');
    assert.equal(report.server.kubernetesVersion, 'v1.34.4');

    const yaml = await cairn(['version', '-o', 'yaml']);
    assert.equal((parse(yaml.stdout) as typeof report).server.kubernetesVersion, 'v1.34.4');
  });

  it('talks to the second cluster with --kubeconfig and --context', async () => {
    const result = await cairn([
      '--kubeconfig',
      testbedEnv('KUBECONFIG_B'),
      '--context',
      'cairn-testbed-b',
      'version',
      '-o',
      'json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      (JSON.parse(result.stdout) as { server: { kubernetesVersion: string } }).server.kubernetesVersion,
      'v1.34.4',
    );
  });

  it('still prints the client version when no cluster is configured', async (t) => {
    const home = await mkdtemp(join(tmpdir(), 'cairn-home-'));
    t.after(() => rm(home, { recursive: true, force: true }));
    const result = await cairn(['version'], envWithoutCluster(home));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Client: v0\.1\.0/m);
    assert.match(result.stdout, /^Kubernetes server: not reachable: no kubeconfig found/m);
  });

  it('does not contact a cluster with --client-only', async () => {
    const result = await cairn(['version', '--client-only', '-o', 'json'], {
      ...process.env,
      KUBECONFIG: '/nonexistent',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(JSON.parse(result.stdout) as object), ['client']);
  });

  it('names the context that does not exist', async () => {
    const result = await cairn(['--context', 'staging', 'version', '-o', 'json']);
    assert.equal(result.code, 0);
    assert.match(
      (JSON.parse(result.stdout) as { serverError: string }).serverError,
      /context "staging" is not in the kubeconfig \(contexts: cairn-testbed-a\)/,
    );
  });

  it('refuses an unknown output format, naming the value', async () => {
    const result = await cairn(['version', '-o', 'xml']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--output must be one of table, json, yaml, got "xml"/);
  });

  it('has --help with examples', async () => {
    const result = await cairn(['version', '--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Examples:\n\s+cairn version/);
  });

  it('runs as `npx cairn` in the checkout', async () => {
    const { stdout } = await promisify(execFile)(
      'npx',
      ['--no-install', 'cairn', 'version', '--client-only'],
      { cwd: repoRoot },
    );
    assert.match(stdout, /^Client: v0\.1\.0/m);
  });
});
