// Debian's restic as the independent checker of the repository format: a throwaway local repository in
// a temporary directory, with its own password and cache, and the few reads the format tests need.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ResticChecker {
  /** A scratch directory of the test's own (removed after it), holding the repository in `repo/`. */
  work: string;
  /** `restic --repo <repo> ...args` in `cwd` (default `work`) with `env` added; its stdout as bytes. */
  restic(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<Buffer>;
  /** The repository's config, `restic cat config`. */
  config(): Promise<{ version: number; id: string; chunker_polynomial: string }>;
  /** `restic backup .` of `dir`; the snapshot's root tree id. */
  backup(dir: string, env?: Record<string, string>): Promise<string>;
  /** The bytes of a blob as stored (`restic cat blob`): for a tree, its JSON and the newline. */
  blob(id: string): Promise<Buffer>;
}

/** Initializes a repository; everything is removed when the test ends. */
export async function resticChecker(t: TestContext): Promise<ResticChecker> {
  const work = await mkdtemp(join(tmpdir(), 'cairn-restic-format-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const repo = join(work, 'repo');
  const restic: ResticChecker['restic'] = async (args, options = {}) => {
    const { stdout } = await run('restic', ['--repo', repo, ...args], {
      cwd: options.cwd ?? work,
      encoding: 'buffer',
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        RESTIC_PASSWORD: 'cairn-format-test',
        RESTIC_CACHE_DIR: join(work, 'cache'),
        ...options.env,
      },
    });
    return stdout;
  };
  await run('restic', ['--repo', repo, 'init', '--quiet'], {
    env: { ...process.env, RESTIC_PASSWORD: 'cairn-format-test', RESTIC_CACHE_DIR: join(work, 'cache') },
  });
  return {
    work,
    restic,
    config: async () =>
      JSON.parse((await restic(['cat', 'config'])).toString('utf8')) as Awaited<
        ReturnType<ResticChecker['config']>
      >,
    backup: async (dir, env = {}) => {
      await restic(['backup', '--quiet', '--host', 'cairn-test', '.'], { cwd: dir, env });
      const snapshots = JSON.parse(
        (await restic(['snapshots', '--json', '--latest', '1'])).toString('utf8'),
      ) as {
        tree: string;
      }[];
      const tree = snapshots.at(-1)?.tree;
      if (!tree) throw new Error('restic made no snapshot');
      return tree;
    },
    blob: (id) => restic(['cat', 'blob', id]),
  };
}
