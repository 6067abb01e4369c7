// Options every command shares, and parsers for option values.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
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
    .option('-n, --namespace <ns>', "the server's namespace (server mode)", namespaceName, 'cairn');
}

// The name rules of the API layer (dnsLabelProblem, DNS_SUBDOMAIN_PATTERN), written again here: importing
// it would load the schema library into every command, `cairn version` too (docs/benchmarks.md, start-up).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * A namespace's name (and a backup's): a DNS-1123 label. Refused as the flag is read, so that a typo never
 * reaches the cluster. Commander names the flag and the value in front of this message.
 */
export function namespaceName(value: string): string {
  if (!DNS_LABEL.test(nonEmpty(value)) || value.length > 63)
    throw new InvalidArgumentError(
      'not a valid name: lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
    );
  return value;
}

/** The name of an object (a location, a schedule, a ConfigMap, a node): a DNS-1123 subdomain. */
export function objectName(value: string): string {
  if (!DNS_SUBDOMAIN.test(nonEmpty(value)) || value.length > 253)
    throw new InvalidArgumentError(
      'not a valid name: lower-case letters, digits, "-" and ".", starting and ending with a letter or digit',
    );
  return value;
}

// The API layer's parseGoDuration grammar, for the same reason as the names above.
const GO_DURATION = /^(?:0|(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/;

/** A Go duration kept as text in a spec (`720h`, `1h30m`, `90s`), as the API server will check it. */
export function goDuration(value: string): string {
  if (!GO_DURATION.test(nonEmpty(value)))
    throw new InvalidArgumentError('not a duration (examples: 90s, 10m, 1h30m, 720h)');
  return value;
}

/** Comma-separated, repeatable object names (objectName's rules for each). */
export function collectObjectNames(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...listItems(value).map(objectName)];
}

/** Comma-separated, repeatable namespaces: names or globs (`app-*`, `*`), each able to match a name. */
export function collectNamespaces(value: string, previous: string[] | undefined): string[] {
  for (const item of listItems(value)) {
    if (!/^[a-z0-9*?[\]!-]+$/.test(item))
      throw new InvalidArgumentError(
        `"${item}" is neither a namespace name nor a glob (lower-case letters, digits, "-", and * ? [...])`,
      );
  }
  return [...(previous ?? []), ...listItems(value)];
}

/**
 * Comma-separated, repeatable resources: plural, singular, short or kind names, `resource.group`, or `*`;
 * with `separator`, also that word alone (--resource-priorities' "-").
 */
export function resourcesParser(options: { separator?: string } = {}) {
  return (value: string, previous: string[] | undefined): string[] => {
    for (const item of listItems(value)) {
      if (item !== options.separator && !/^[A-Za-z0-9*?]([-A-Za-z0-9.*?]*[A-Za-z0-9*?])?$/.test(item))
        throw new InvalidArgumentError(
          `"${item}" is not a resource (e.g. deployments, deploy, Deployment, deployments.apps, *)`,
        );
    }
    return [...(previous ?? []), ...listItems(value)];
  };
}

/** A file the command reads: refused at once when it does not exist, before anything else is done. */
export function existingFile(value: string): string {
  try {
    if (statSync(nonEmpty(value)).isDirectory()) throw new InvalidArgumentError('a directory, not a file');
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidArgumentError(
      code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(error)})`,
    );
  }
  return value;
}

/** A file the command writes: its directory must exist. */
export function writableFile(value: string): string {
  try {
    if (!statSync(dirname(nonEmpty(value))).isDirectory()) throw new Error('ENOTDIR');
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError(`its directory ${dirname(value)} does not exist`);
  }
  return value;
}

/** An http(s) URL (a server's address). */
export function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(nonEmpty(value));
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    throw new InvalidArgumentError('not a URL (e.g. https://127.0.0.1:8085)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new InvalidArgumentError(`not an http(s) URL: the scheme is ${url.protocol}`);
  return value;
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
