// Bad input, every CLI flag: each option of the real command tree that takes a value, given a wrong value
// of its kind, must end the command with a non-zero exit code and a message naming the flag and the value,
// with no stack trace and nothing written. Commands run in-process (main() with an io of our own) with no
// kubeconfig (--context: one whose cluster is a closed port): a flag must be refused before any cluster is
// contacted. A flag that is new to the tree and neither tested nor listed as an exception below fails the
// test, and so does an exception for a flag that is gone.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Command, Option } from 'commander';
import { buildProgram, main, type CliIO } from '../../src/cli/index.ts';
import { recordReliability } from '../helpers/reliability.ts';

const missingFile = '/nonexistent-cairn-flags/missing.yaml';

/** Wrong values by the kind of value a flag takes (its placeholder, or its choices). */
const WRONG: Record<string, string[]> = {
  number: ['abc', '-1'],
  duration: ['5 minutes'],
  enum: ['bogus'],
  bool: ['maybe'],
  path: [missingFile],
  pairs: ['novalue'],
  name: ['Bad_Name!'],
  names: ['Bad_Name!'],
  selector: ['a=b=c'],
  url: ['not a url'],
  address: ['not an address!'],
  cron: ['every day'],
  ref: ['novalue'],
  context: ['no-such-context'],
  size: ['lots'],
};

/** The kind of a flag, from its placeholder (`<duration>`) or, for a few, its name. */
function kindOf(option: Option): string | undefined {
  if (option.argChoices) return 'enum';
  const long = option.long ?? '';
  const byFlag: Record<string, string> = {
    '--labels': 'pairs',
    '--namespace-mappings': 'pairs',
    '--storage-class-mappings': 'pairs',
    '--transform-configmap': 'name',
    '--node': 'name',
    '--keep-within': 'duration',
    '--context': 'context',
    '--access-mode': 'enum',
    '--kinds': 'enum',
    '--replicas': 'number',
    '--provider': 'enum',
    '--location-provider': 'enum',
    '--readonly-provider': 'enum',
    '--tls-san': 'address',
  };
  if (byFlag[long]) return byFlag[long];
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? '';
  const byPlaceholder: Record<string, string> = {
    n: 'number',
    port: 'number',
    duration: 'duration',
    format: 'enum',
    mode: 'enum',
    policy: 'enum',
    provider: 'enum',
    bool: 'bool',
    file: 'path',
    'k=v,...': 'pairs',
    name: 'name',
    ns: 'name',
    schedule: 'name',
    backup: 'name',
    location: 'name',
    list: 'names',
    selector: 'selector',
    url: 'url',
    'host:port': 'address',
    ip: 'address',
    cron: 'cron',
    'secret/key': 'ref',
    'namespace/name': 'ref',
    limit: 'size',
  };
  return byPlaceholder[placeholder];
}

/**
 * The flags not tested, each with the reason. Key: the command path and the long flag.
 */
const EXCEPTIONS: Record<string, string> = {
  'repo forget --keep-tag': "free text: restic's tags are any strings (key=value by Cairn's convention only)",
  'server --identity': "free text: the lease holder's name, any string",
  'dashboard --token': 'an opaque bearer token: only the API server can tell a wrong one (its 401 is shown)',
  'location create --prefix': 'any key prefix is valid',
  'install --prefix': 'any key prefix is valid',
  'install --readonly-prefix': 'any key prefix is valid',
  'location create --bucket': "bucket rules differ by provider: the store's own refusal names the bucket",
  'install --bucket': "bucket rules differ by provider: the store's own refusal names the bucket",
  'install --readonly-bucket': "bucket rules differ by provider: the store's own refusal names the bucket",
  'location create --path': 'any directory: made when missing (server mode: a path in the server pod)',
  'volume get --to': 'any directory: made when missing (or - for stdout)',
  'backup create --kubelet-root': 'a directory of the node, read only with --node-agent local',
  'restore create --kubelet-root': 'a directory of the node, read only with --node-agent local',
  'node-agent --kubelet-root': "a directory of the node (in a DaemonSet, the mount's)",
  'install --kubelet-root': "a directory of the cluster's nodes, not of this machine",
  'backup create --helper-image':
    'an image reference: only the registry can tell a wrong one (the pod shows it)',
  'restore create --restore-helper-image':
    'an image reference: only the registry can tell a wrong one (the pod shows it)',
  'server --restore-helper-image':
    'an image reference: only the registry can tell a wrong one (the pod shows it)',
  'install --image': 'an image reference: only the registry can tell a wrong one (the pod shows it)',
};

const fixtures = mkdtempSync(join(tmpdir(), 'cairn-flags-fixtures-'));
const podFile = join(fixtures, 'pod.yaml');
writeFileSync(
  podFile,
  'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {containers: []}\n',
);

// A kubeconfig whose one cluster is a closed port: nothing can be contacted through it.
const kubeconfigFile = join(fixtures, 'kubeconfig');
writeFileSync(
  kubeconfigFile,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'closed', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [{ name: 'nobody', user: { token: 'none' } }],
    contexts: [{ name: 'closed', context: { cluster: 'closed', user: 'nobody' } }],
    'current-context': 'closed',
  }),
);

/**
 * What each command needs besides the flag under test to get to its options: valid arguments and
 * required flags (left out when they are the flag under test, or conflict with it).
 */
function baseline(command: string, flag: string): string[] {
  const unless = (owner: string, args: string[]) => (flag === owner ? [] : args);
  switch (command) {
    case 'backup create':
      return ['flagcheck'];
    case 'restore create':
      return flag === '--from-schedule' ? [] : unless('--from-backup', ['--from-backup', 'flagcheck']);
    case 'location create':
      return ['flagcheck', ...unless('--provider', ['--provider', 'fs', '--path', join(fixtures, 'loc')])];
    case 'volume ls':
      return ['flagcheck', 'shop/db-0/data'];
    case 'volume get':
      return ['flagcheck', 'shop/db-0/data', '/', ...unless('--to', ['--to', join(fixtures, 'out')])];
    case 'schedule create':
      return ['flagcheck', ...unless('--schedule', ['--schedule', '@daily'])];
    case 'hooks validate':
      return unless('--filename', ['-f', podFile]);
    case 'repo forget':
      return ['flagcheck', ...(flag.startsWith('--keep-') ? [] : ['--keep-last', '1'])];
    case 'install':
      return ['--dry-run', ...(flag.startsWith('--readonly-') ? ['--readonly-location', 'other'] : [])];
    default:
      return [];
  }
}

interface FlagCase {
  command: string[];
  option: Option;
  /** Positional arguments the command needs to get to its options. */
  args: string[];
}

function walk(command: Command, path: string[], out: FlagCase[]): void {
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    const args = baseline(path.join(' '), option.long ?? '');
    const positional = command.registeredArguments.filter((a) => a.required).map(() => 'flagcheck');
    out.push({ command: path, option, args: args.length > 0 ? args : positional });
  }
  for (const child of command.commands) walk(child, [...path, child.name()], out);
}

const quietIO: CliIO = { env: {}, stdout: { write: () => true }, stderr: { write: () => true } };

async function allFlags(): Promise<FlagCase[]> {
  const out: FlagCase[] = [];
  // The tree for no command names every top-level command; each is then loaded in full, as running it does.
  const topLevel = (await buildProgram(quietIO, [])).commands.map((c) => c.name());
  for (const name of topLevel) {
    const program = await buildProgram(quietIO, [name]);
    if (name === topLevel[0]) {
      // The global flags, on a command that needs a cluster.
      for (const option of program.options) {
        if (!option.required && !option.optional) continue;
        const kubeconfig = option.long === '--context' ? ['--kubeconfig', kubeconfigFile] : [];
        out.push({ command: [], option, args: [...kubeconfig, 'schedule', 'get'] });
      }
    }
    const command = program.commands.find((c) => c.name() === name);
    assert.ok(command, `command ${name} is in the tree`);
    walk(command, [name], out);
  }
  return out;
}

const home = mkdtempSync(join(tmpdir(), 'cairn-flags-'));
after(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(fixtures, { recursive: true, force: true });
});

/** Runs the CLI in-process with no kubeconfig and an empty home; resolves with what it said. */
async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIO = {
    env: { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data') },
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

const keyOf = (c: FlagCase) => [...c.command, c.option.long ?? c.option.flags].join(' ');

describe('every CLI flag with a wrong value', () => {
  it('is refused with a message naming the flag and the value, before any cluster is contacted', async () => {
    const flags = await allFlags();
    const failures: string[] = [];
    let cases = 0;
    const keys = new Set(flags.map(keyOf));
    for (const key of Object.keys(EXCEPTIONS))
      if (!keys.has(key)) failures.push(`${key}: an exception for a flag that is not in the tree`);
    for (const flag of flags) {
      const key = keyOf(flag);
      if (EXCEPTIONS[key]) continue;
      const kind = kindOf(flag.option);
      const values = kind === undefined ? undefined : WRONG[kind];
      if (!values) {
        failures.push(`${key}: neither a known kind of value nor an exception`);
        continue;
      }
      for (const value of values) {
        cases += 1;
        const long = flag.option.long ?? '';
        const argv = [...flag.command, ...flag.args, `${long}=${value}`];
        const result = await run(argv);
        const said = result.stderr.trim().split('\n').slice(0, 3).join(' | ');
        if (result.code === 0) failures.push(`${argv.join(' ')}: exit 0`);
        else if (!result.stderr.includes(long) || !result.stderr.includes(value))
          failures.push(`${argv.join(' ')}: ${said}`);
        if (/^\s+at .+:\d+:\d+\)?$/m.test(result.stderr)) failures.push(`${argv.join(' ')}: a stack trace`);
        const written = readdirSync(home, { recursive: true });
        if (written.length > 0) {
          failures.push(`${argv.join(' ')}: wrote ${written.join(', ')}`);
          for (const entry of readdirSync(home)) rmSync(join(home, entry), { recursive: true });
        }
      }
    }
    assert.deepEqual(failures, []);
    recordReliability({
      section: 'Bad input',
      subject: 'cairn CLI flags',
      tried:
        `every flag that takes a value (${flags.length}; ${Object.keys(EXCEPTIONS).length} free-form ones left out, ` +
        'each with its reason), with a wrong value of its kind: abc and -1 for a number, "5 minutes" for a ' +
        'duration, bogus for a choice, a missing file, Bad_Name! for a name, a=b=c for a selector, ...',
      cases,
      outcome: 'refused: exit code 1, naming the flag and the value, no stack trace',
      lost: 'nothing',
    });
  });
});
