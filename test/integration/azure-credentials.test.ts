// An Azure location opened as Velero's Azure plugin reads one: the storage account by name in the
// location's config and its key in the credentials (AZURE_STORAGE_ACCOUNT_ACCESS_KEY, or the variable
// storageAccountKeyEnvVar names), against Azurite; and the refusals that say what to add.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { BlobServiceClient } from '@azure/storage-blob';
import { LocationConfigError, openObjectStore, parseCredentials } from '../../src/storage/index.ts';
import { testbedEnv } from '../helpers/testbed.ts';

/** Azurite's account, key and blob endpoint, from the testbed's connection string. */
function azurite() {
  const parts = new Map(
    testbedEnv('CAIRN_AZURE_CONNECTION_STRING')
      .split(';')
      .filter((p) => p.includes('='))
      .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as [string, string]),
  );
  return {
    account: parts.get('AccountName') ?? '',
    key: parts.get('AccountKey') ?? '',
    uri: parts.get('BlobEndpoint') ?? '',
  };
}

describe("Azure credentials as Velero's plugin takes them", () => {
  it("opens a location from config.storageAccount and the account key in storageAccountKeyEnvVar's variable", async () => {
    const { account, key, uri } = azurite();
    const container = `velero-${randomUUID().slice(0, 8)}`;
    await BlobServiceClient.fromConnectionString(testbedEnv('CAIRN_AZURE_CONNECTION_STRING'))
      .getContainerClient(container)
      .create();
    const config = {
      storageAccount: account,
      storageAccountURI: uri,
      storageAccountKeyEnvVar: 'AZURE_STORAGE_KEY',
    };
    const credentials = parseCredentials(
      'azure',
      `AZURE_CLOUD_NAME=AzurePublicCloud\nAZURE_STORAGE_KEY=${key}\n`,
      'default',
      config,
    );
    const store = await openObjectStore(
      { provider: 'azure', objectStorage: { bucket: container }, config },
      { credentials },
    );
    await store.put('backups/a/velero-backup.json', Buffer.from('{}'));
    const names: string[] = [];
    for await (const entry of store.list('backups/')) if (entry.type === 'object') names.push(entry.key);
    assert.deepEqual(names, ['backups/a/velero-backup.json']);
  });

  it('builds the public cloud endpoint from the account name, and says what is missing otherwise', () => {
    assert.deepEqual(
      parseCredentials('azure', 'AZURE_STORAGE_ACCOUNT_ACCESS_KEY=c2VjcmV0\n', 'default', {
        storageAccount: 'acct',
      }),
      {
        kind: 'azure',
        connectionString:
          'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net',
      },
    );
    assert.throws(
      () =>
        parseCredentials('azure', 'AZURE_CLIENT_ID=x\nAZURE_CLIENT_SECRET=y\n', 'default', {
          storageAccount: 'acct',
        }),
      (e: unknown) =>
        e instanceof LocationConfigError &&
        e.message ===
          'credentials: needs a line AZURE_STORAGE_CONNECTION_STRING=..., or config.storageAccount and a line ' +
            "AZURE_STORAGE_ACCOUNT_ACCESS_KEY=<the account's key> (a service principal, AZURE_CLIENT_ID, is not read)",
    );
  });
});
