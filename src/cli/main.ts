// The `cairn` command: builds the command tree and turns errors into messages and exit codes. This is
// one of the two places (with the server) where an error becomes an exit code.
import { Command, CommanderError } from 'commander';
import { backupCommand } from './commands/backup.ts';
import { importCommand } from './commands/import.ts';
import { installCommand, uninstallCommand } from './commands/install.ts';
import { locationCommand } from './commands/location.ts';
import { restoreCommand } from './commands/restore.ts';
import { scheduleCommand } from './commands/schedule.ts';
import { serverCommand } from './commands/server.ts';
import { versionCommand } from './commands/version.ts';
import type { CliIO } from './io.ts';
import { clientVersion } from './version-info.ts';

export function buildProgram(io: CliIO, setExitCode: (code: number) => void = () => undefined): Command {
  const program = new Command('cairn')
    .description('Back up, restore and migrate Kubernetes workloads: API objects and volume data.')
    .version(clientVersion(), '--version', 'print the client version')
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--context <name>', 'kubeconfig context to use instead of the current one');
  program.addCommand(versionCommand(io));
  program.addCommand(backupCommand(io, setExitCode));
  program.addCommand(restoreCommand(io, setExitCode));
  program.addCommand(locationCommand(io, setExitCode));
  program.addCommand(scheduleCommand(io));
  program.addCommand(serverCommand(io));
  program.addCommand(installCommand(io));
  program.addCommand(uninstallCommand(io));
  program.addCommand(importCommand(io));
  const configure = (command: Command) => {
    command
      .exitOverride()
      .showHelpAfterError('(run with --help for usage)')
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    for (const child of command.commands) configure(child);
  };
  configure(program);
  return program;
}

interface ProblemLike {
  field: string;
  value: string;
  message: string;
}

/** Runs the command line and resolves with the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; usage errors were already printed by commander.
      return error.exitCode;
    }
    const problems = (error as { problems?: ProblemLike[] }).problems;
    if (Array.isArray(problems) && problems.length > 0) {
      io.stderr.write('error: the request is invalid; nothing was changed:\n');
      for (const p of problems) io.stderr.write(`  ${p.field} "${p.value}": ${p.message}\n`);
      return 1;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
