// `cairn install` and `cairn uninstall`: the server in a cluster (namespace, CRDs, RBAC, the location and
// its credentials, the Deployment), printed with --dry-run or applied; uninstall removes it and leaves
// the stored backups alone.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { BackupLocationSpec } from '../../api/index.ts';
import type { CliIO } from '../io.ts';
import { existingFile, kubeConfigOf, namespaceName } from '../options.ts';
import { formatManifests } from '../output.ts';
import { clientVersion } from '../version-info.ts';
import { parseConfigPairs } from './location-config.ts';
import { addReadOnlyOptions, READONLY_REDACTED, type ReadOnlyFlags } from './install-readonly.ts';

interface InstallFlags extends ReadOnlyFlags {
  namespace: string;
  image: string;
  locationProvider?: string;
  bucket?: string;
  prefix?: string;
  locationConfig?: Record<string, string>;
  secretFile?: string;
  plaintext: boolean;
  replicas: number;
  kubeletRoot: string;
  dryRun: boolean;
  output: 'yaml' | 'json';
}

export const DEFAULT_IMAGE = `ghcr.io/cairn-dev/cairn:v${clientVersion().replace(/^v/, '')}`;

/** Shown in place of credentials in printed manifests: not valid base64, so it cannot be applied by mistake. */
const REDACTED = '<redacted: the content of --secret-file>';

function parseReplicas(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number above 0');
  return n;
}

export function installCommand(io: CliIO): Command {
  return addReadOnlyOptions(new Command('install'))
    .description(
      "Install Cairn's server in the cluster: namespace, CRDs, RBAC, a backup location, the Deployment",
    )
    .option('-n, --namespace <ns>', "the server's namespace", namespaceName, 'cairn')
    .option('--image <image>', 'the server image', DEFAULT_IMAGE)
    .option('--location-provider <provider>', 'the default location: s3, azure, gcs or fs')
    .option('--bucket <bucket>', 'its bucket (S3, GCS) or container (Azure)')
    .option('--prefix <prefix>', 'a key prefix in the bucket')
    .option(
      '--location-config <k=v,...>',
      'provider settings: region, s3Url, s3ForcePathStyle, path...',
      parseConfigPairs,
    )
    .option(
      '--secret-file <file>',
      "the location's credentials (AWS credentials file, Azure env file, GCS JSON key)",
      existingFile,
    )
    .option('--plaintext', 'store backups unencrypted (readable by Velero)', false)
    .option('--replicas <n>', 'server replicas (one leads, the others stand by)', parseReplicas, 1)
    .option(
      '--kubelet-root <dir>',
      "the kubelet's --root-dir on the nodes, for the node agent",
      '/var/lib/kubelet',
    )
    .option('--dry-run', 'print the manifests instead of applying them (credentials redacted)', false)
    .addOption(
      new Option('-o, --output <format>', 'with --dry-run: yaml or json')
        .choices(['yaml', 'json'])
        .default('yaml'),
    )
    .addHelpText(
      'after',
      `
Examples:
  cairn install --location-provider s3 --bucket backups --location-config region=eu-west-1 --secret-file ./aws-credentials
  cairn install --location-provider s3 --bucket backups --location-config region=us-east-1,s3Url=http://minio:9000,s3ForcePathStyle=true --secret-file ./minio
  cairn install --dry-run -o yaml > cairn.yaml      (for GitOps: add the credentials Secret yourself)
  cairn install --location-provider s3 --bucket dr-backups --location-config region=eu-west-1 --secret-file ./dr \\
      --readonly-location prod --readonly-provider s3 --readonly-bucket prod-backups \\
      --readonly-config region=eu-west-1 --readonly-secret-file ./prod-readonly

--readonly-location adds a ReadOnly location beside the default one: another cluster's bucket, whose
backups this cluster lists and restores but never writes or deletes. Copy that cluster's key Secret
cairn-key-<its location> here as cairn-key-<name> to restore encrypted backups.

The server makes each location's encryption key on first use, in the Secret cairn-key-<location>:
copy it somewhere safe (kubectl get secret -n cairn cairn-key-default -o yaml). A cluster that restores
another's backups needs the same Secret.`,
    )
    .action(async (flags: InstallFlags, command: Command) => {
      const { installManifests, applyInstall, CREDENTIALS_SECRET, CREDENTIALS_KEY } =
        await import('../../controller/index.ts');
      const { locationProblems, normalizeProvider } = await import('../../api/index.ts');
      let location: { name: string; spec: BackupLocationSpec } | undefined;
      let credentials: string | undefined;
      if (flags.locationProvider !== undefined) {
        const provider = normalizeProvider(flags.locationProvider);
        if (!provider)
          throw new Error(
            `--location-provider "${flags.locationProvider}": must be one of s3, azure, gcs, fs (or Velero's aws, gcp)`,
          );
        const spec: BackupLocationSpec = {
          provider: provider,
          ...(flags.bucket
            ? { objectStorage: { bucket: flags.bucket, ...(flags.prefix ? { prefix: flags.prefix } : {}) } }
            : {}),
          ...(flags.locationConfig ? { config: flags.locationConfig } : {}),
          ...(flags.secretFile ? { credential: { name: CREDENTIALS_SECRET, key: CREDENTIALS_KEY } } : {}),
          default: true,
          accessMode: 'ReadWrite',
          ...(flags.plaintext ? { plaintext: true } : {}),
        };
        const problems = locationProblems(spec);
        if (problems.length > 0)
          throw Object.assign(new Error('the location flags are invalid'), {
            problems: problems.map((p) => ({ ...p, field: `--${flagOf(p.field)}` })),
          });
        location = { name: 'default', spec };
      } else if (flags.bucket || flags.secretFile) {
        throw new Error('--bucket and --secret-file need --location-provider');
      }
      if (flags.secretFile) {
        try {
          credentials = readFileSync(flags.secretFile, 'utf8');
        } catch (error) {
          throw new Error(`--secret-file "${flags.secretFile}": ${(error as Error).message}`, {
            cause: error,
          });
        }
      }
      const { readOnlyLocationOf } = await import('./install-readonly.ts');
      const readOnlyLocation = await readOnlyLocationOf(flags, { defaultName: location?.name });
      const objects = installManifests({
        namespace: flags.namespace,
        image: flags.image,
        location,
        credentials,
        readOnlyLocation,
        replicas: flags.replicas,
        kubeletRoot: flags.kubeletRoot,
      });
      if (flags.dryRun) {
        const printed = objects.map((o) =>
          o.kind === 'Secret'
            ? {
                ...o,
                data: Object.fromEntries(
                  Object.keys(o.data as object).map((k) => [
                    k,
                    o.metadata.name === CREDENTIALS_SECRET ? REDACTED : READONLY_REDACTED,
                  ]),
                ),
              }
            : o,
        );
        io.stdout.write(formatManifests(printed, flags.output));
        return;
      }
      const { KubeClient } = await import('../../kube/index.ts');
      const client = new KubeClient(await kubeConfigOf(io, command));
      await applyInstall(client, objects, {
        onApplied: (o) =>
          io.stderr.write(
            `applied ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}\n`,
          ),
      });
      io.stdout.write(
        `Cairn is installed in namespace ${flags.namespace}.` +
          (location
            ? ` Backups go to location "default" (${location.spec.provider}${location.spec.objectStorage ? ` ${location.spec.objectStorage.bucket}` : ''}).`
            : ' Create a BackupLocation before the first backup.') +
          '\nIts encryption key is made on first use in Secret cairn-key-default: keep a copy, losing it loses the backups.\n',
      );
      if (readOnlyLocation)
        io.stdout.write(
          `ReadOnly location "${readOnlyLocation.name}" (${readOnlyLocation.spec.provider} ${readOnlyLocation.spec.objectStorage?.bucket ?? ''}) ` +
            `is installed too: restoring its encrypted backups needs their key in Secret cairn-key-${readOnlyLocation.name}.\n`,
        );
    });
}

const flagOf = (field: string) =>
  field === 'objectStorage.bucket'
    ? 'bucket'
    : field === 'provider'
      ? 'location-provider'
      : `location-config ${field.replace(/^config\./, '')}`;

export function uninstallCommand(io: CliIO): Command {
  return new Command('uninstall')
    .description(
      "Remove Cairn's server, CRDs and namespace from the cluster; stored backups stay where they are",
    )
    .option('-n, --namespace <ns>', "the server's namespace", namespaceName, 'cairn')
    .option('--keep-crds', 'keep the CRDs (and so every Cairn resource in other namespaces)', false)
    .option('--confirm', 'do not ask (required when not on a terminal)', false)
    .option('--delete-keys', "also delete the locations' encryption key Secrets (keep a copy first)", false)
    .addHelpText(
      'after',
      `
The namespace holds the Secrets cairn-key-<location> with the backups' encryption keys: uninstall refuses
to delete them, and so the namespace, unless --delete-keys says a copy is kept elsewhere.

Examples:
  cairn uninstall --confirm
  cairn uninstall -n backup-system --keep-crds --confirm`,
    )
    .action(
      async (
        flags: { namespace: string; keepCrds: boolean; confirm: boolean; deleteKeys: boolean },
        command: Command,
      ) => {
        if (!flags.confirm)
          throw new Error(
            `uninstall deletes namespace ${flags.namespace} and Cairn's CRDs with every Backup resource (the stored backups stay): run again with --confirm`,
          );
        const { uninstall } = await import('../../controller/index.ts');
        const { KubeClient } = await import('../../kube/index.ts');
        const client = new KubeClient(await kubeConfigOf(io, command));
        await uninstall(client, {
          namespace: flags.namespace,
          keepCrds: flags.keepCrds,
          deleteKeys: flags.deleteKeys,
          onDeleted: (what) => io.stderr.write(`deleted ${what}\n`),
        });
        io.stdout.write(
          `Cairn is uninstalled from namespace ${flags.namespace}; the stored backups were not touched.\n`,
        );
      },
    );
}
