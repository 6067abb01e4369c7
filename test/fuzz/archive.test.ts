// Bad input to the backup archive reader (src/archive/reader.ts) and to the restore's read of it
// (src/restore/contents.ts, extractBackup): random bytes, mutations of a valid .tar.gz and of its tar
// (gzipped again, so the tar reader sees them), and hostile entries. Every case is read or refused with
// an archive error; a refused extract leaves nothing behind in its directory.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  ArchiveCorruptError,
  ArchiveItemTooLargeError,
  ArchiveWriter,
  UnsupportedArchiveVersionError,
  indexArchive,
} from '../../src/archive/index.ts';
import {
  ConflictingVersionsError,
  InvalidBackupItemError,
  extractBackup,
} from '../../src/restore/contents.ts';
import {
  FUZZ_TEST_TIMEOUT_MS,
  checkParser,
  fuzzRuns,
  mutationOf,
  randomBytesAfter,
} from '../helpers/fuzz.ts';
import { recordReliability } from '../helpers/reliability.ts';

const ARCHIVE_ERRORS = [ArchiveCorruptError, ArchiveItemTooLargeError, UnsupportedArchiveVersionError];
const options = { timeout: FUZZ_TEST_TIMEOUT_MS };
const subject = 'backup archive reader (indexArchive)';

async function validArchive(): Promise<Buffer> {
  const writer = new ArchiveWriter({ now: () => new Date('2026-01-02T03:04:05Z') });
  const bytes = buffer(writer.stream);
  const items = [
    [
      'configmaps',
      'shop',
      'settings',
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' } },
    ],
    [
      'deployments.apps',
      'shop',
      'web',
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } },
    ],
    ['namespaces', undefined, 'shop', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }],
  ] as const;
  for (const [groupResource, namespace, name, object] of items)
    await writer.addItem({
      groupResource,
      name,
      version: 'v1',
      preferredVersion: 'v1',
      object,
      ...(namespace === undefined ? {} : { namespace }),
    });
  await writer.finish();
  return bytes;
}

const read = (bytes: Buffer) => indexArchive(Readable.from([bytes]));

/** A ustar header block for `name` of `size` bytes and tar type `type`, checksum included. */
function tarHeader(name: string, size: number, type = '0', linkname = ''): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write('0000755\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('15000000000\0', 136, 'ascii');
  header.write(type, 156, 'ascii');
  header.write(linkname, 157, 'utf8');
  header.write('ustar\x0000', 257, 'ascii');
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

const block = (content: string) => {
  const data = Buffer.from(content);
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
};

/** A gzip'd tar: the version entry, then `entries`, then the end marker. */
const hostile = (...entries: Buffer[]) =>
  gzipSync(
    Buffer.concat([tarHeader('metadata/version', 6), block('1.1.0\n'), ...entries, Buffer.alloc(1024)]),
  );

describe('the archive reader, given bad bytes', () => {
  let valid: Buffer;
  const tmp: string[] = [];
  after(async () => {
    for (const dir of tmp) await rm(dir, { recursive: true, force: true });
  });

  it('refuses random bytes with an archive error', options, async () => {
    const outcomes = await checkParser({
      inputs: randomBytesAfter([Buffer.from([0x1f, 0x8b, 0x08, 0x00])]),
      parse: read,
      typed: ARCHIVE_ERRORS,
      runs: fuzzRuns(150),
    });
    recordReliability({
      section: 'Bad input',
      subject,
      tried: 'random bytes (some after a gzip header)',
      cases: outcomes.cases,
      outcome: outcomes.summary(),
      lost: 'nothing (read only)',
    });
  });

  it('reads or refuses every mutation of a valid .tar.gz', options, async () => {
    valid ??= await validArchive();
    const outcomes = await checkParser({
      inputs: mutationOf(valid, [-8, -4]),
      parse: read,
      typed: ARCHIVE_ERRORS,
      runs: fuzzRuns(150),
    });
    recordReliability({
      section: 'Bad input',
      subject,
      tried: 'mutated .tar.gz (bits flipped, bytes set/inserted/deleted/repeated, cut short, huge lengths)',
      cases: outcomes.cases,
      outcome: outcomes.summary(),
      lost: 'nothing (read only)',
    });
  });

  it(
    'reads or refuses every mutation of its tar (gzipped again), and a refused extract leaves no file',
    options,
    async () => {
      valid ??= await validArchive();
      const tar = gunzipSync(valid);
      // The size, checksum and PAX length fields of the first entries are where the tar reader trusts numbers.
      const fields = [124, 128, 148, 512 + 124, 1024 + 124, 1536 + 124];
      const reader = await checkParser({
        inputs: mutationOf(tar, fields).map((bytes) => gzipSync(bytes)),
        parse: read,
        typed: ARCHIVE_ERRORS,
        runs: fuzzRuns(200),
      });
      const dir = await mkdtemp(join(tmpdir(), 'cairn-fuzz-extract-'));
      tmp.push(dir);
      let leftovers = 0;
      const extract = await checkParser({
        inputs: mutationOf(tar, fields).map((bytes) => gzipSync(bytes)),
        parse: async (bytes: Buffer) => {
          const caseDir = await mkdtemp(join(dir, 'case-'));
          try {
            const contents = await extractBackup(Readable.from([bytes]), { dir: caseDir });
            await contents.close();
          } finally {
            leftovers += (await readdir(caseDir)).length;
          }
        },
        typed: [...ARCHIVE_ERRORS, InvalidBackupItemError, ConflictingVersionsError],
        runs: fuzzRuns(60),
      });
      assert.equal(leftovers, 0, 'no item file stays behind');
      recordReliability({
        section: 'Bad input',
        subject,
        tried: 'mutated tar inside a valid gzip (headers, sizes, checksums, paths)',
        cases: reader.cases,
        outcome: reader.summary(),
        lost: 'nothing (read only)',
      });
      recordReliability({
        section: 'Bad input',
        subject: "restore's archive read (extractBackup)",
        tried: 'mutated tar inside a valid gzip',
        cases: extract.cases,
        outcome: extract.summary(),
        lost: 'nothing: no item file left in its directory',
      });
    },
  );

  it('refuses entries that would leave the archive: ../, absolute, a/../../, symlinks, hard links, devices', async () => {
    const cases: [string, Buffer][] = [
      ['../x', Buffer.concat([tarHeader('../x', 2), block('{}')])],
      ['/etc/x', Buffer.concat([tarHeader('/etc/x', 2), block('{}')])],
      ['resources/a/../../x', Buffer.concat([tarHeader('resources/a/../../x', 2), block('{}')])],
      ['symlink to /etc', tarHeader('resources/configmaps/cluster/x.json', 0, '2', '/etc/passwd')],
      ['symlink to ../..', tarHeader('resources/configmaps/cluster/y.json', 0, '2', '../../../y')],
      ['hard link', tarHeader('resources/configmaps/cluster/z.json', 0, '1', '/etc/shadow')],
      ['character device', tarHeader('resources/configmaps/cluster/c.json', 0, '3')],
      ['fifo', tarHeader('resources/configmaps/cluster/f.json', 0, '6')],
    ];
    for (const [what, entry] of cases) {
      const error = await read(hostile(entry)).then(
        () => assert.fail(`${what} was read`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ArchiveCorruptError, `${what}: ${String(error)}`);
      assert.match(error.message, /unsafe path|not a regular file|outside resources/, what);
    }
    recordReliability({
      section: 'Bad input',
      subject,
      tried: 'entries ../x, /etc/x, a/../../x, symlinks out, a hard link, a device, a fifo',
      cases: cases.length,
      outcome: 'refused: ArchiveCorruptError naming the entry',
      lost: 'nothing (no entry is ever written to a file by its name)',
    });
  });

  it('refuses an entry declaring 8 GiB (and one of 4 GiB) before reading its content', async () => {
    for (const size of [8 * 1024 ** 3, 4 * 1024 ** 3 - 1]) {
      // The header alone: the content never comes, so reading it would end in a truncation error instead.
      const error = await read(
        gzipSync(
          Buffer.concat([
            tarHeader('metadata/version', 6),
            block('1.1.0\n'),
            tarHeader('resources/configmaps/cluster/big.json', size),
          ]),
        ),
      ).then(
        () => assert.fail('read'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ArchiveItemTooLargeError, String(error));
      assert.equal(error.size, size);
    }
    recordReliability({
      section: 'Bad input',
      subject,
      tried: 'an entry header declaring 4 GiB or 8 GiB',
      cases: 2,
      outcome: 'refused: ArchiveItemTooLargeError before reading the content',
      lost: 'nothing (no allocation of the declared size)',
    });
  });
});
