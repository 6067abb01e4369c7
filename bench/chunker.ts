// The chunker alone: `node bench/chunker.ts [--mib 64] [--runs 5] [--block-kib 1024]`. Splits MiB of
// pseudo-random data, fed in blocks as a file reader would, on one core; prints MB/s (10^6 bytes a
// second) of each run and the best, beside SHA-256 over the same data (the hash every chunk gets
// afterwards) as the figure to compare with. About a third of the bytes (each chunk's first 512 KiB less
// 64 bytes) are skipped unhashed, as restic does; the figure counts all bytes. No cluster.
import { createCipheriv, createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Chunker } from '../src/repo/chunker.ts';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '64' },
    runs: { type: 'string', default: '5' },
    'block-kib': { type: 'string', default: '1024' },
  },
});
const bytes = Number(values.mib) * 1024 * 1024;
const runs = Number(values.runs);
const block = Number(values['block-kib']) * 1024;

// The same pseudo-random bytes and polynomial every run (AES-256-CTR of zeros; restic/chunker's test
// polynomial): how many chunks the data makes changes how much of it is skipped unhashed.
const data = createCipheriv('aes-256-ctr', Buffer.alloc(32), Buffer.alloc(16)).update(Buffer.alloc(bytes));
const chunker = new Chunker(0x3da3358b4dc173n);

function split(): number {
  const splitter = chunker.split();
  let count = 0;
  for (let offset = 0; offset < data.length; offset += block) {
    const buffer = data.subarray(offset, Math.min(offset + block, data.length));
    let position = 0;
    for (;;) {
      const cut = splitter.next(buffer, position);
      if (cut < 0) break;
      count += 1;
      position = cut;
    }
  }
  return count + (splitter.pending > 0 ? 1 : 0);
}

function sha256(): number {
  const hash = createHash('sha256');
  for (let offset = 0; offset < data.length; offset += block)
    hash.update(data.subarray(offset, offset + block));
  hash.digest();
  return 0;
}

function measure(name: string, work: () => number): void {
  const rates: number[] = [];
  let result = 0;
  for (let run = 0; run < runs; run++) {
    const start = process.hrtime.bigint();
    result = work();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(bytes / 1e6 / seconds);
  }
  const shown = rates.map((r) => r.toFixed(0)).join(' ');
  console.log(
    `${name}: best ${Math.max(...rates).toFixed(0)} MB/s (runs: ${shown})${result ? `, ${result} chunks` : ''}`,
  );
}

console.log(`${values.mib} MiB of random data in ${values['block-kib']} KiB blocks, node ${process.version}`);
measure('chunker', split);
measure('sha-256', sha256);
console.log(`load average ${loadavg()[0]!.toFixed(2)}`);
