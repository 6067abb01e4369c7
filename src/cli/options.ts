// Options every command shares, and parsers for option values.
import type { KubeConfig } from '@kubernetes/client-node';
import { InvalidArgumentError, type Command } from 'commander';
import type { CliIO } from './io.ts';

export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

/**
 * The kubeconfig that --kubeconfig, --context and the environment name. The Kubernetes access layer is
 * imported on demand: it takes half a second to load, which commands that need no cluster should not pay.
 */
export async function kubeConfigOf(io: CliIO, command: Command): Promise<KubeConfig> {
  const { loadKubeConfig } = await import('../kube/index.ts');
  const global = globalOptions(command);
  return loadKubeConfig({ kubeconfig: global.kubeconfig, context: global.context, env: io.env });
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration (500ms, 5s, 1m30s, 2h) into milliseconds. */
export function parseDuration(value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) {
    throw new InvalidArgumentError(`"${value}" is not a duration (examples: 500ms, 5s, 1m30s, 2h)`);
  }
  return parts.reduce((total, p) => total + Number(p[1]) * (units[p[2] ?? 's'] ?? 0), 0);
}

/** The flags of a command that runs standalone or through Cairn's server (addModeOptions). */
export interface ModeOptions {
  server?: boolean;
  standalone?: boolean;
  namespace: string;
}

/** Adds --server, --standalone and -n/--namespace to a command that runs in either mode. */
export function addModeOptions(command: Command): Command {
  return command
    .option('--server', "create the resource for Cairn's server (fails when it is not installed)")
    .option('--standalone', 'run here, even when a server is installed')
    .option('-n, --namespace <ns>', "the server's namespace (server mode)", 'cairn');
}

/**
 * The items of a comma-separated flag value. An empty value or an empty item is refused: an unset shell
 * variable (`--include-namespaces "$NS"`) must not silently widen a selection to the whole cluster.
 * Commander names the flag and the value in front of this message.
 */
export function listItems(value: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (value.trim() === '')
    throw new InvalidArgumentError(
      'the value is empty (an unset shell variable?); leave the flag out instead',
    );
  if (items.includes(''))
    throw new InvalidArgumentError('the list has an empty item (",," or a "," at an end)');
  return items;
}

/** A comma-separated list flag that may also be repeated; empty values are refused (listItems). */
export function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...listItems(value)];
}

/** A repeatable flag whose every value is one item (a selector, a file); an empty value is refused. */
export function collectValue(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), nonEmpty(value)];
}

/** A flag's single value, refused when empty (an unset shell variable). */
export function nonEmpty(value: string): string {
  if (value.trim() === '')
    throw new InvalidArgumentError(
      'the value is empty (an unset shell variable?); leave the flag out instead',
    );
  return value;
}

/**
 * `key<separator>value` pairs, comma-separated and repeatable (labels, mappings, provider settings);
 * `what` names a pair in messages ("a label (key=value)"). An empty value or item is refused (listItems).
 */
export function pairsParser(options: { separator: ':' | '='; what: string; valueRequired?: boolean }) {
  return (value: string, previous: Record<string, string> | undefined): Record<string, string> => {
    const pairs = { ...previous };
    for (const pair of listItems(value)) {
      const at = pair.indexOf(options.separator);
      if (at <= 0 || (options.valueRequired === true && at === pair.length - 1))
        throw new InvalidArgumentError(`"${pair}" is not ${options.what}`);
      pairs[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
    return pairs;
  };
}
