// The `cairn` command line.
export { main, buildProgram } from './main.ts';
export type { CliIO } from './io.ts';
