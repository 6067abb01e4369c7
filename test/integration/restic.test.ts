// restic from Debian is the independent checker of Cairn's volume-data repository. It must be installed
// and able to write, list, check and restore a repository, locally and on the testbed's MinIO.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { testbedEnv, uniqueSuffix } from '../helpers/testbed.ts';

const run = promisify(execFile);

async function restic(repository: string, args: string[], env: Record<string, string> = {}) {
  const { stdout } = await run('restic', ['--repo', repository, ...args], {
    env: {
      ...process.env,
      RESTIC_PASSWORD: 'cairn-test-password',
      RESTIC_CACHE_DIR: join(tmpdir(), 'restic-cache'),
      ...env,
    },
  });
  return stdout;
}

describe('restic', () => {
  it('is installed: restic version', async (t) => {
    const { stdout } = await run('restic', ['version']);
    t.diagnostic(stdout.trim());
    assert.match(stdout, /^restic 0\.\d+\.\d+ /);
  });

  it('backs up to a repository on the testbed MinIO, checks it and restores a file', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'cairn-restic-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    await mkdir(join(work, 'data', 'sub'), { recursive: true });
    await writeFile(join(work, 'data', 'sub', 'file.txt'), 'volume data\n');

    const endpoint = testbedEnv('CAIRN_S3_ENDPOINT');
    const bucket = `restic-${uniqueSuffix()}`;
    const s3 = new S3Client({
      endpoint,
      forcePathStyle: true,
      region: testbedEnv('AWS_REGION'),
      credentials: {
        accessKeyId: testbedEnv('AWS_ACCESS_KEY_ID'),
        secretAccessKey: testbedEnv('AWS_SECRET_ACCESS_KEY'),
      },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const repository = `s3:${endpoint}/${bucket}/repo`;

    await restic(repository, ['init']);
    await restic(repository, ['backup', '--host', 'testbed', join(work, 'data', 'sub')]);
    const snapshots = JSON.parse(await restic(repository, ['snapshots', '--json'])) as { hostname: string }[];
    assert.equal(snapshots.length, 1);
    assert.equal(snapshots[0]?.hostname, 'testbed');
    await restic(repository, ['check', '--read-data']);
    await restic(repository, ['restore', 'latest', '--target', join(work, 'restored')]);
    const restored = await readFile(join(work, 'restored', work, 'data', 'sub', 'file.txt'), 'utf8');
    assert.equal(restored, 'volume data\n');
  });
});
