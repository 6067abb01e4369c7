// `cairn install --readonly-location NAME --readonly-provider ...`: a ReadOnly location installed beside the
// default one, typically a disaster-recovery mirror: another cluster's bucket, restored from, never written.
// Its flags are the default location's with a `readonly-` prefix, so each problem names the flag to fix.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { existingFile } from '../options.ts';
import type { BackupLocationSpec, SpecProblem } from '../../api/index.ts';
import { LocationValidationError, parseConfigPairs } from './location-config.ts';

export interface ReadOnlyFlags {
  readonlyLocation?: string;
  readonlyProvider?: string;
  readonlyBucket?: string;
  readonlyPrefix?: string;
  readonlyConfig?: Record<string, string>;
  readonlySecretFile?: string;
  readonlyPlaintext?: boolean;
}

/** What install makes of them: the location and its credentials file's content. */
export interface ReadOnlyLocation {
  name: string;
  spec: BackupLocationSpec;
  credentials?: string;
}

/** Shown in place of the ReadOnly location's credentials in printed manifests (not valid base64). */
export const READONLY_REDACTED = '<redacted: the content of --readonly-secret-file>';

export function addReadOnlyOptions(command: Command): Command {
  return command
    .option(
      '--readonly-location <name>',
      "also install a ReadOnly location of this name (another cluster's backups, to restore)",
    )
    .option('--readonly-provider <provider>', 'its provider: s3, azure or gcs')
    .option('--readonly-bucket <bucket>', 'its bucket (S3, GCS) or container (Azure)')
    .option('--readonly-prefix <prefix>', 'its key prefix in the bucket')
    .option('--readonly-config <k=v,...>', 'its provider settings: region, s3Url...', parseConfigPairs)
    .option(
      '--readonly-secret-file <file>',
      'its credentials (the Secret cairn-credentials-<name>)',
      existingFile,
    )
    .option('--readonly-plaintext', 'its backups are unencrypted (a Velero bucket)');
}

const flagOf = (field: string): string => {
  if (field === 'objectStorage.bucket') return '--readonly-bucket';
  if (field === 'objectStorage.prefix') return '--readonly-prefix';
  if (field === 'provider') return '--readonly-provider';
  if (field.startsWith('config.')) return `--readonly-config ${field.slice('config.'.length)}`;
  return `--readonly-${field}`;
};

/** The ReadOnly location the flags describe (undefined without --readonly-location), or every problem. */
export async function readOnlyLocationOf(
  flags: ReadOnlyFlags,
  options: { defaultName?: string | undefined },
): Promise<ReadOnlyLocation | undefined> {
  const { dnsLabelProblem, locationProblems, normalizeProvider, specProblems } =
    await import('../../api/index.ts');
  const { readonlyLocation: name } = flags;
  if (name === undefined) {
    const given = Object.entries(flags).find(
      ([flag, value]) => flag.startsWith('readonly') && value !== undefined && value !== false,
    );
    if (given)
      throw new Error(
        `--${given[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --readonly-location NAME`,
      );
    return undefined;
  }
  const problems: SpecProblem[] = [];
  const nameProblem = dnsLabelProblem(name);
  if (nameProblem) problems.push({ field: '--readonly-location', value: name, message: nameProblem });
  if (name === options.defaultName)
    problems.push({
      field: '--readonly-location',
      value: name,
      message: 'the default location has that name already: choose another',
    });
  const provider = normalizeProvider(flags.readonlyProvider ?? '');
  if (!provider || provider === 'fs') {
    problems.push({
      field: '--readonly-provider',
      value: flags.readonlyProvider ?? '',
      message:
        provider === 'fs'
          ? "must be s3, azure or gcs: install mounts only the default location's directory"
          : "must be one of s3, azure, gcs (or Velero's aws, gcp)",
    });
    throw new LocationValidationError(problems);
  }
  const spec: BackupLocationSpec = {
    provider,
    ...(flags.readonlyBucket !== undefined
      ? {
          objectStorage: {
            bucket: flags.readonlyBucket,
            ...(flags.readonlyPrefix ? { prefix: flags.readonlyPrefix } : {}),
          },
        }
      : {}),
    ...(flags.readonlyConfig ? { config: flags.readonlyConfig } : {}),
    accessMode: 'ReadOnly',
    ...(flags.readonlyPlaintext ? { plaintext: true } : {}),
  };
  const found = locationProblems(spec);
  const named = new Set(found.map((p) => p.field));
  found.push(...specProblems('BackupLocation', spec).filter((p) => !named.has(p.field)));
  problems.push(...found.map((p) => ({ ...p, field: flagOf(p.field) })));
  let credentials: string | undefined;
  if (flags.readonlySecretFile !== undefined) {
    try {
      credentials = readFileSync(flags.readonlySecretFile, 'utf8');
      const { parseCredentials } = await import('../../storage/index.ts');
      parseCredentials(provider, credentials, 'default', spec.config);
    } catch (error) {
      // The parser's messages name what is missing, never the secrets themselves.
      problems.push({
        field: '--readonly-secret-file',
        value: flags.readonlySecretFile,
        message: (error as Error).message,
      });
    }
  }
  if (problems.length > 0) throw new LocationValidationError(problems);
  return { name, spec, ...(credentials !== undefined ? { credentials } : {}) };
}
