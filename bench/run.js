// `npm run bench -- <name> [args]`: runs bench/<name>.ts. The benchmarks that need a cluster and object
// stores (backup, restore, velero, volumes) use the running testbed (eval "$(npm run -s testbed -- up)" first, or let this
// start one and leave it running); `startup`, `chunker` and `repo-backup` need none.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const [name, ...args] = process.argv.slice(2);
if (!name || !existsSync(join(root, 'bench', `${name}.ts`))) {
  console.error(
    'usage: npm run bench -- <name> [args]   (benchmarks: backup, restore, velero, volumes, startup, chunker, repo-backup)',
  );
  process.exit(2);
}
const needsTestbed = !['startup', 'chunker', 'repo-backup'].includes(name);
const env = { ...process.env };
if (needsTestbed && (!env.KUBECONFIG || !env.CAIRN_S3_ENDPOINT)) {
  const up = spawnSync(process.execPath, [join(root, 'testbed', 'cli.ts'), 'up'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (up.status !== 0) process.exit(1);
  for (const line of up.stdout.split('\n')) {
    const m = /^export ([A-Z0-9_]+)='(.*)'/.exec(line);
    if (m && m[1] !== 'PATH') env[m[1]] = m[2].replaceAll(`'\\''`, "'");
  }
}
const result = spawnSync(process.execPath, [join(root, 'bench', `${name}.ts`), ...args], {
  stdio: 'inherit',
  env,
});
process.exit(result.status ?? 1);
