#!/usr/bin/env node
// The `cairn` command. It runs the TypeScript sources through tsx's loader, so a checkout works right
// after `npm ci` and after every edit, with no build step to remember. `npm install -g .` links this file
// (the checkout's node_modules must exist: run `npm ci` first); `npm install -g --install-links .`
// installs a packed copy with its own dependencies instead.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
  const home = dirname(dirname(fileURLToPath(import.meta.url)));
  process.stderr.write(
    `cairn: its dependencies are not installed in ${home}: run \`npm ci\` there, ` +
      'or install with `npm install -g --install-links .`\n',
  );
  process.exit(1);
}
register();
const { main } = await import('../src/cli/index.ts');
process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
