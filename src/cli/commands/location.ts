// `cairn location ...`: the backup locations of standalone mode.
import { Command } from 'commander';
import type { CliIO } from '../io.ts';

export function locationCommand(_io: CliIO, _setExitCode: (code: number) => void): Command {
  return new Command('location').description('Configure backup locations (standalone mode)');
}
