#!/usr/bin/env node
// The `cairn` command, on plain Node.js 24: no transpiler. In a checkout it runs the TypeScript sources
// themselves (Node strips their types), so it works right after `npm ci` and after every edit, and
// `npm install -g .` links this file. An installed copy (`npm install -g --install-links .`, the packed
// package) has no src/: it runs the JavaScript that `npm run build` compiled into dist/, since Node
// strips no types under node_modules.
import { existsSync } from 'node:fs';
import { enableCompileCache } from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `cairn: needs Node.js 24 or newer; this is ${process.version} (see the README's set-up)\n`,
  );
  process.exit(1);
}

// Node keeps the compiled (and type-stripped) modules in a cache under the temporary directory, keyed by
// their contents: later runs skip compiling them, which halves the start-up (docs/benchmarks.md). Worker
// threads (a volume backup's chunk workers, a restore's blob workers) do not inherit the cache from this
// call, only from the environment: without it each compiled its modules again, a few hundred
// milliseconds of CPU per worker and backup.
const cache = enableCompileCache();
if (cache.directory && !process.env.NODE_COMPILE_CACHE) process.env.NODE_COMPILE_CACHE = cache.directory;

const source = new URL('../src/cli/index.ts', import.meta.url);
const built = new URL('../dist/cli/index.js', import.meta.url);
const fromSource = existsSync(source);
if (!fromSource) process.setSourceMapsEnabled(true);

let main;
try {
  ({ main } = await import(fromSource ? source.href : built.href));
} catch (error) {
  // A package the sources import is missing: the checkout's dependencies were never installed.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/Cannot find package/.test(error.message)) throw error;
  const home = new URL('..', import.meta.url).pathname;
  process.stderr.write(
    `cairn: its dependencies are not installed in ${home}: run \`npm ci\` there, ` +
      'or install with `npm install -g --install-links .`\n',
  );
  process.exit(1);
}
// A reader that goes away (`cairn backup create --help | head`) is the end of the output, not an error:
// stop quietly, as other command-line tools do.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error) => {
    if (error?.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
