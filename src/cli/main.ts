// The `cairn` command: builds the command tree and turns errors into messages and exit codes. This is
// one of the two places (with the server) where an error becomes an exit code.
import { Command, CommanderError } from 'commander';
import { versionCommand } from './commands/version.ts';
import type { CliIO } from './io.ts';
import { clientVersion } from './version-info.ts';

export function buildProgram(io: CliIO): Command {
  const program = new Command('cairn')
    .description('Back up, restore and migrate Kubernetes workloads: API objects and volume data.')
    .version(clientVersion(), '--version', 'print the client version')
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--context <name>', 'kubeconfig context to use instead of the current one')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  program.addCommand(versionCommand(io));
  for (const command of program.commands) {
    command
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
  }
  return program;
}

/** Runs the command line and resolves with the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; usage errors were already printed by commander.
      return error.exitCode;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
