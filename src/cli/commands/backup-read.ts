// The commands that read the backup catalog: get, describe, logs, download, delete.
import type { Command } from 'commander';
import type { CliIO } from '../io.ts';

export function addBackupReadCommands(
  _backup: Command,
  _io: CliIO,
  _setExitCode: (code: number) => void,
): void {
  // Filled in by the catalog commands.
}
