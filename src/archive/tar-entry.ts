// The bytes of one regular-file tar entry, built synchronously. The archive writer adds two entries per
// item, tens of thousands of times; going through a streaming tar packer costs a stream round trip per
// header and per body, which measured as the largest share of the writer's time. These are exactly the
// bytes tar-stream's packer writes for the same header (the golden archive test compares the two):
// POSIX ustar, long paths split into the prefix field, and a PAX `path=` record where they cannot be
// (non-ASCII, or no split fits), the way tar-stream and Go's archive/tar do it (docs/formats/archive.md).

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK);
/** The end-of-archive marker: two blocks of zeros. */
export const END_OF_TAR = Buffer.alloc(2 * BLOCK);

export interface TarFileHeader {
  name: string;
  size: number;
  mode: number;
  mtime: Date;
}

/** Octal, zero-padded to `digits`, then a space (as tar-stream writes it); all sevens if it overflows. */
function octal(value: number, digits: number): string {
  const text = value.toString(8);
  if (text.length > digits) return `${'7'.repeat(digits)} `;
  return `${'0'.repeat(digits - text.length)}${text} `;
}

function writeSize(size: number, block: Buffer, offset: number): void {
  if (size.toString(8).length <= 11) {
    block.write(octal(size, 11), offset, 'latin1');
    return;
  }
  // Base-256 for sizes of 8 GiB and more (GNU and POSIX readers accept it).
  block[offset] = 0x80;
  let rest = size;
  for (let i = 11; i > 0; i--) {
    block[offset + i] = rest & 0xff;
    rest = Math.floor(rest / 0x100);
  }
}

/** The fields every header of one (mode, mtime, type) shares, with their checksum contribution. */
interface HeaderTemplate {
  key: string;
  block: Buffer;
  sum: number;
}
let template: HeaderTemplate | undefined;

function templateFor(mode: number, mtime: Date, typeflag: string): HeaderTemplate {
  const seconds = Math.trunc(mtime.getTime() / 1000);
  const key = `${mode}/${seconds}/${typeflag}`;
  if (template?.key === key) return template;
  const block = Buffer.alloc(BLOCK);
  block.write(octal(mode & 0o7777, 6), 100, 'latin1');
  block.write(octal(0, 6), 108, 'latin1'); // uid
  block.write(octal(0, 6), 116, 'latin1'); // gid
  block.write(octal(seconds, 11), 136, 'latin1');
  block.write(typeflag, 156, 'latin1');
  block.write('ustar\u000000', 257, 'latin1'); // magic "ustar\0" and version "00"
  block.write(octal(0, 6), 329, 'latin1'); // devmajor
  block.write(octal(0, 6), 337, 'latin1'); // devminor
  let sum = 8 * 32; // the checksum field counts as eight spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i] as number;
  template = { key, block, sum };
  return template;
}

/** Writes `text` (ASCII) at `offset`; returns the sum of its bytes (for the checksum). */
function writeAscii(block: Buffer, text: string, offset: number): number {
  let sum = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    block[offset + i] = code;
    sum += code;
  }
  return sum;
}

/** Writes `value` as `digits` octal digits and a space at `offset`; returns the sum of those bytes. */
function writeOctal(block: Buffer, value: number, digits: number, offset: number): number {
  let sum = 32;
  block[offset + digits] = 32;
  let rest = value;
  for (let i = digits - 1; i >= 0; i--) {
    const digit = 48 + (rest % 8);
    block[offset + i] = digit;
    sum += digit;
    rest = Math.floor(rest / 8);
  }
  return sum;
}

/** The name and prefix fields of a ustar header for `name`, or undefined when ustar cannot hold it. */
function ustarName(name: string): { rest: string; prefix: string } | undefined {
  if (name.length <= 100) {
    for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0x7f) return undefined;
    return { rest: name, prefix: '' };
  }
  if (Buffer.byteLength(name) !== name.length) return undefined;
  let rest = name;
  let prefix = '';
  while (rest.length > 100) {
    const slash = rest.indexOf('/');
    if (slash === -1) return undefined;
    prefix += prefix ? `/${rest.slice(0, slash)}` : rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  if (rest.length > 100 || prefix.length > 155) return undefined;
  return { rest, prefix };
}

/** Writes a ustar header block at `offset` of `target`; the name must fit (see ustarName). */
function writeUstarHeader(
  target: Buffer,
  offset: number,
  fields: { rest: string; prefix: string },
  size: number,
  mode: number,
  mtime: Date,
  typeflag: string,
): void {
  const shared = templateFor(mode, mtime, typeflag);
  shared.block.copy(target, offset);
  let sum = shared.sum + writeAscii(target, fields.rest, offset);
  if (size.toString(8).length <= 11) sum += writeOctal(target, size, 11, offset + 124);
  else {
    writeSize(size, target, offset + 124);
    for (let i = 124; i < 136; i++) sum += target[offset + i] as number;
  }
  if (fields.prefix) sum += writeAscii(target, fields.prefix, offset + 345);
  writeOctal(target, sum, 6, offset + 148);
}

/** A ustar header, or undefined when the path cannot be one (then a PAX record carries it). */
function ustarHeader(
  name: string,
  size: number,
  mode: number,
  mtime: Date,
  typeflag: string,
): Buffer | undefined {
  const fields = ustarName(name);
  if (!fields) return undefined;
  const block = Buffer.allocUnsafe(BLOCK);
  writeUstarHeader(block, 0, fields, size, mode, mtime, typeflag);
  return block;
}

/** A PAX record: "<length> <key>=<value>\n", where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const length = Buffer.byteLength(body);
  let digits = String(length).length;
  if (length + digits >= 10 ** digits) digits += 1;
  return `${length + digits}${body}`;
}

/** `size` rounded up to whole 512-byte blocks: the bytes content of that size takes with its padding. */
export const paddedLength = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

const padding = (size: number): Buffer => {
  const used = size % BLOCK;
  return used === 0 ? ZEROS.subarray(0, 0) : ZEROS.subarray(0, BLOCK - used);
};

/** The chunks of one regular-file entry: header(s), content, padding to the next block. */
export function tarFileEntry(header: TarFileHeader, content: Buffer): Buffer[] {
  const plain = ustarHeader(header.name, header.size, header.mode, header.mtime, '0');
  if (plain) return [plain, content, padding(content.length)];
  const pax = Buffer.from(paxRecord('path', header.name));
  // tar-stream names both headers of a PAX entry "PaxHeader"; readers take the path from the record.
  const paxHeader = ustarHeader('PaxHeader', pax.length, header.mode, header.mtime, 'x') as Buffer;
  const fileHeader = ustarHeader('PaxHeader', header.size, header.mode, header.mtime, '0') as Buffer;
  return [paxHeader, pax, padding(pax.length), fileHeader, content, padding(content.length)];
}

/**
 * How many bytes the header(s) of an entry named `name` take: one ustar block, or, for a path ustar
 * cannot hold, the PAX header, its record and the file header.
 */
export function tarHeaderLength(name: string): number {
  if (ustarName(name)) return BLOCK;
  return 2 * BLOCK + paddedLength(Buffer.byteLength(paxRecord('path', name)));
}

/**
 * Writes the header(s) of a regular-file entry into `target` at `offset` — the bytes tarFileEntry starts
 * with — and returns their length (tarHeaderLength(header.name)). The content goes right after them,
 * then zeros up to paddedLength(size). For writers that build many entries into one buffer.
 */
export function writeTarHeaders(target: Buffer, offset: number, header: TarFileHeader): number {
  const fields = ustarName(header.name);
  if (fields) {
    writeUstarHeader(target, offset, fields, header.size, header.mode, header.mtime, '0');
    return BLOCK;
  }
  const chunks = tarFileEntry(header, ZEROS.subarray(0, 0));
  let at = offset;
  for (const chunk of chunks) at += chunk.copy(target, at);
  return at - offset;
}
