#!/usr/bin/env node
// The `cairn` command, on plain Node.js 24: no transpiler. It runs the TypeScript sources themselves (Node
// strips their types), so a checkout works right after `npm ci` and after every edit, and
// `npm install -g .` links this file.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `cairn: needs Node.js 24 or newer; this is ${process.version} (see the README's set-up)\n`,
  );
  process.exit(1);
}

let main;
try {
  ({ main } = await import('../src/cli/index.ts'));
} catch (error) {
  // A package the sources import is missing: the checkout's dependencies were never installed.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/Cannot find package/.test(error.message)) throw error;
  const home = new URL('..', import.meta.url).pathname;
  process.stderr.write(`cairn: its dependencies are not installed in ${home}: run \`npm ci\` there\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
