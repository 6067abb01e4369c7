// `cairn version`: the client's version and, when a cluster is reachable, the server's Kubernetes version.
import { Command, Option } from 'commander';
import type { ServerVersion } from '../../kube/index.ts';
import type { CliIO } from '../io.ts';
import { formatStructured, parseOutputFormat, type OutputFormat } from '../output.ts';
import { clientVersion } from '../version-info.ts';
import { kubeConfigOf, parseDuration } from '../options.ts';

export interface VersionReport {
  client: { version: string; nodeVersion: string };
  server?: { kubernetesVersion: string; platform: string; url: string };
  serverError?: string;
}

export function versionCommand(io: CliIO): Command {
  return new Command('version')
    .description("Print the client version and, when a cluster is reachable, its server's Kubernetes version")
    .option('--client-only', 'print only the client version; do not contact a cluster', false)
    .option('--timeout <duration>', 'how long to wait for the API server (e.g. 5s, 1m)', parseDuration, 5000)
    .addOption(
      new Option('-o, --output <format>', 'output format: table, json or yaml')
        .argParser(parseOutputFormat)
        .default('table'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn version                      client and server versions
  cairn version --client-only        no cluster needed
  cairn version -o json              machine-readable
  cairn version --kubeconfig ~/.kube/staging --context admin`,
    )
    .action(
      async (options: { clientOnly: boolean; timeout: number; output: OutputFormat }, command: Command) => {
        const report: VersionReport = { client: { version: clientVersion(), nodeVersion: process.version } };
        if (!options.clientOnly) {
          try {
            // Loaded on demand: the Kubernetes client takes half a second to import.
            const { KubeClient } = await import('../../kube/index.ts');
            const client = new KubeClient(await kubeConfigOf(io, command));
            const version: ServerVersion = await client.serverVersion({
              signal: AbortSignal.timeout(options.timeout),
            });
            report.server = {
              kubernetesVersion: version.gitVersion,
              platform: version.platform,
              url: client.server,
            };
          } catch (error) {
            report.serverError = error instanceof Error ? error.message : String(error);
          }
        }
        if (options.output !== 'table') {
          io.stdout.write(formatStructured(report, options.output));
          return;
        }
        io.stdout.write(`Client: ${report.client.version} (node ${report.client.nodeVersion})\n`);
        if (report.server) {
          io.stdout.write(`Kubernetes server: ${report.server.kubernetesVersion} at ${report.server.url}\n`);
        } else if (report.serverError) {
          io.stdout.write(`Kubernetes server: not reachable: ${report.serverError}\n`);
        }
      },
    );
}
