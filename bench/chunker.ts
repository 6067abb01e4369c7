// The chunker alone: `node bench/chunker.ts [--mib 64] [--runs 5] [--block-kib 1024]`. Splits MiB of
// pseudo-random data, fed in blocks as a file reader would, on one core; prints MB/s (10^6 bytes a
// second) of each run and the best, for the JS chunker (chunker.ts) and the WebAssembly one
// (chunker-wasm.ts) with the data in its own memory (as the chunk workers read into it) and copied in from
// outside, beside SHA-256 over the same data (the hash every chunk gets afterwards) as the figure to
// compare with. The variants take turns run by run, so that a change in the machine's load hits them alike. About a third of the bytes (each chunk's first 512 KiB less
// 64 bytes) are skipped unhashed, as restic does; the figure counts all bytes. No cluster.
import { createCipheriv, createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Chunker } from '../src/repo/chunker.ts';
import { WasmChunker } from '../src/repo/chunker-wasm.ts';

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
const polynomial = 0x3da3358b4dc173n;
const chunker = new Chunker(polynomial);
const wasm = new WasmChunker(polynomial);
// The data in the WebAssembly chunker's own memory, as a file is read into it.
const inMemory = new WasmChunker(polynomial, { bufferSize: bytes });
data.copy(inMemory.buffer);

/** Splits `source` fed in blocks; returns the number of chunks. */
function split(
  splitter: { next(data: Uint8Array, start: number): number; pending: number },
  source: Buffer,
): number {
  let count = 0;
  for (let offset = 0; offset < source.length; offset += block) {
    const buffer = source.subarray(offset, Math.min(offset + block, source.length));
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

const variants: [string, () => number][] = [
  ['chunker (JS)', () => split(chunker.split(), data)],
  ['chunker (WebAssembly, data in its memory)', () => split(inMemory.split(), inMemory.buffer)],
  ['chunker (WebAssembly, data copied in)', () => split(wasm.split(), data)],
  ['sha-256', sha256],
];
const rates = variants.map((): number[] => []);
const results = variants.map(() => 0);
for (let run = 0; run < runs; run++) {
  variants.forEach(([, work], index) => {
    const start = process.hrtime.bigint();
    results[index] = work();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates[index]!.push(bytes / 1e6 / seconds);
  });
}

console.log(`${values.mib} MiB of random data in ${values['block-kib']} KiB blocks, node ${process.version}`);
variants.forEach(([name], index) => {
  const shown = rates[index]!.map((r) => r.toFixed(0)).join(' ');
  const result = results[index]!;
  console.log(
    `${name}: best ${Math.max(...rates[index]!).toFixed(0)} MB/s (runs: ${shown})${result ? `, ${result} chunks` : ''}`,
  );
});
console.log(`load average ${loadavg()[0]!.toFixed(2)}`);
