#!/usr/bin/env node
// The `cairn` command. It runs the TypeScript sources through tsx's loader, so a checkout works right
// after `npm ci` and after every edit, with no build step to remember; `npm install -g .` links here.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/index.ts');
process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
