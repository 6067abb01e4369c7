// The `cairn` command: builds the command tree and turns errors into messages and exit codes. This is
// one of the two places (with the server) where an error becomes an exit code.
import { Command, CommanderError, Help } from 'commander';
import type { CliIO } from './io.ts';
import { clientVersion } from './version-info.ts';

type SetExitCode = (code: number) => void;

/** A top-level command: how `cairn --help` lists it, and how to load its definition. */
interface TopLevelCommand {
  name: string;
  /** What follows the name in `cairn --help`'s list. */
  usage: string;
  summary: string;
  load: (io: CliIO, setExitCode: SetExitCode) => Promise<Command>;
}

/**
 * The top-level commands. Only the one being run is loaded, with its options, help and actions (and so
 * the layers its module imports); the others stand in as names and summaries. `cairn --help` and
 * `cairn version --client-only` load neither an engine nor a cloud SDK nor the Kubernetes client
 * (docs/benchmarks.md, start-up).
 */
const COMMANDS: TopLevelCommand[] = [
  {
    name: 'version',
    usage: '[options]',
    summary: "Print the client version and, when a cluster is reachable, its server's Kubernetes version",
    load: async (io) => (await import('./commands/version.ts')).versionCommand(io),
  },
  {
    name: 'backup',
    usage: '<command>',
    summary: 'Create and manage backups',
    load: async (io, setExitCode) => (await import('./commands/backup.ts')).backupCommand(io, setExitCode),
  },
  {
    name: 'restore',
    usage: '<command>',
    summary: 'Restore backups into a cluster, preview restores, and manage restore records',
    load: async (io, setExitCode) => (await import('./commands/restore.ts')).restoreCommand(io, setExitCode),
  },
  {
    name: 'location',
    usage: '<command>',
    summary: "Configure backup locations: this machine's, or the server's BackupLocations",
    load: async (io, setExitCode) =>
      (await import('./commands/location.ts')).locationCommand(io, setExitCode),
  },
  {
    name: 'volume',
    usage: '<command>',
    summary: 'List and restore the files of pod volumes that backups hold (standalone mode)',
    load: async (io, setExitCode) => (await import('./commands/volume.ts')).volumeCommand(io, setExitCode),
  },
  {
    name: 'repo',
    usage: '<command>',
    summary: "Look after a location's volume-data repositories: list, check, forget, prune, passwords",
    load: async (io, setExitCode) => (await import('./commands/repo.ts')).repoCommand(io, setExitCode),
  },
  {
    name: 'schedule',
    usage: '<command>',
    summary: "Create and manage the server's backup schedules (needs cairn install)",
    load: async (io) => (await import('./commands/schedule.ts')).scheduleCommand(io),
  },
  {
    name: 'server',
    usage: '[options]',
    summary:
      'Run the controllers: Backups, BackupLocations and the rest of cairn.dev/v1 in one namespace, with leader election',
    load: async (io) => (await import('./commands/server.ts')).serverCommand(io),
  },
  {
    name: 'dashboard',
    usage: '[options]',
    summary: "Open the server's web dashboard, acting as you (a local proxy adds your bearer token)",
    load: async (io) => (await import('./commands/dashboard.ts')).dashboardCommand(io),
  },
  {
    name: 'node-agent',
    usage: '[options]',
    summary: 'Back up and restore the files of pod volumes on this node, for the server (one per node)',
    load: async (io) => (await import('./commands/server.ts')).nodeAgentCommand(io),
  },
  {
    name: 'install',
    usage: '[options]',
    summary:
      "Install Cairn's server in the cluster: namespace, CRDs, RBAC, a backup location, the Deployment",
    load: async (io) => (await import('./commands/install.ts')).installCommand(io),
  },
  {
    name: 'uninstall',
    usage: '[options]',
    summary: "Remove Cairn's server, CRDs and namespace from the cluster; stored backups stay where they are",
    load: async (io) => (await import('./commands/install.ts')).uninstallCommand(io),
  },
  {
    name: 'import',
    usage: '<command>',
    summary: 'Import resources from another tool (Velero)',
    load: async (io) => (await import('./commands/import.ts')).importCommand(io),
  },
  {
    name: 'hooks',
    usage: '<command>',
    summary: 'Check the backup hooks of pods and pod templates before a backup runs them',
    load: async (io, setExitCode) => (await import('./commands/hooks.ts')).hooksCommand(io, setExitCode),
  },
];

/** Global options that take a value, which come before the command name. */
const GLOBAL_VALUE_OPTIONS = new Set(['--kubeconfig', '--context']);

/** The top-level command that argv runs (`cairn help NAME` too), if any. */
function commandOf(argv: string[]): TopLevelCommand | undefined {
  let words = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return undefined;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (arg === 'help' && words === 0) {
      words++;
      continue;
    }
    return COMMANDS.find((c) => c.name === arg);
  }
  return undefined;
}

/** The command tree for argv: the command it runs in full, the others as names and summaries. */
export async function buildProgram(
  io: CliIO,
  argv: string[],
  setExitCode: SetExitCode = () => undefined,
): Promise<Command> {
  const program = new Command('cairn')
    .description('Back up, restore and migrate Kubernetes workloads: API objects and volume data.')
    .version(clientVersion(), '--version', 'print the client version')
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    )
    .option('--context <name>', 'kubeconfig context to use instead of the current one')
    .configureHelp({
      subcommandTerm: (command) => {
        const entry = COMMANDS.find((c) => c.name === command.name());
        return entry ? `${entry.name} ${entry.usage}` : new Help().subcommandTerm(command);
      },
    });
  const running = commandOf(argv);
  for (const entry of COMMANDS) {
    const command = entry === running ? await entry.load(io, setExitCode) : new Command(entry.name);
    program.addCommand(command.summary(entry.summary));
  }
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
  try {
    const program = await buildProgram(io, argv, (code) => (exitCode = code));
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
