// restic's tree blobs: a directory's entries as JSON, byte for byte as restic 0.14 writes them
// (internal/restic/node.go and tree.go): `{"nodes":[node,...]}` and a newline, the nodes sorted by name
// (byte order of the UTF-8), each node's fields in Node's declaration order with Go's omitempty rules,
// strings escaped as Go's encoding/json does (which differs from JSON.stringify: <, > and & as \u003c...,
// U+2028/U+2029 escaped), the name first quoted with Go's strconv.Quote (restic does that so any bytes
// survive JSON), times as RFC 3339 with nanoseconds and the zone offset they were made in, and `mode` as
// Go's os.FileMode (type bits at the top, not the unix S_IF* bits). A tree's blob id is the SHA-256 of
// these bytes, so byte identity is what makes our trees deduplicate with restic's.

/** restic's node types. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'dev' | 'chardev' | 'fifo' | 'socket';

const NODE_TYPES: ReadonlySet<string> = new Set([
  'file',
  'dir',
  'symlink',
  'dev',
  'chardev',
  'fifo',
  'socket',
]);

/**
 * Go's os.FileMode bits (io/fs), as restic stores them in `mode`. The permission bits are the low 9;
 * everything else is a high bit. Values are unsigned 32-bit numbers.
 */
export const FileMode = {
  dir: 2 ** 31,
  append: 2 ** 30,
  exclusive: 2 ** 29,
  temporary: 2 ** 28,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
  irregular: 2 ** 19,
  perm: 0o777,
} as const;

/** Whether a Go FileMode has a bit of FileMode (`dir` is bit 31: JavaScript's `&` would make it negative). */
export function hasFileMode(mode: number, bit: number): boolean {
  return Math.floor(mode / bit) % 2 === 1;
}

/**
 * A point in time as restic keeps it: nanoseconds since the Unix epoch and the UTC offset (minutes east)
 * of the zone it is shown in. Two NodeTimes with the same `unixNano` are the same instant.
 */
export interface NodeTime {
  unixNano: bigint;
  utcOffsetMinutes: number;
}

/** An extended attribute (xattr). restic stores the value base64-encoded; Go writes a nil value as null. */
export interface ExtendedAttribute {
  name: string;
  value: Buffer | null;
}

/**
 * A restic node: one directory entry. Optional fields are the ones restic omits when empty or zero (so
 * an absent field and a zero one encode alike). Ids are 64 lower-case hex digits.
 */
export interface Node {
  name: string;
  type: NodeType;
  /** Go os.FileMode: the permission bits, setuid/setgid/sticky, and the type bits (FileMode). */
  mode: number;
  mtime: NodeTime;
  atime: NodeTime;
  ctime: NodeTime;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  inode?: bigint;
  /** The st_dev of the filesystem the entry was on (restic uses it with `inode` to find hard links). */
  deviceId?: bigint;
  /** Files: the size in bytes. */
  size?: number;
  /** Files, symlinks, devices: the link count. */
  links?: number;
  linkTarget?: string;
  extendedAttributes?: ExtendedAttribute[];
  /** Block and character devices: st_rdev. */
  device?: bigint;
  /** Files: the data blob ids in order ([] for an empty file). Everything else: null. */
  content: string[] | null;
  /** Directories: the id of the tree blob of their entries. */
  subtree?: string;
  error?: string;
}

/** A tree blob that is not what restic writes (bad JSON, a field of the wrong type, a bad value). */
export class TreeFormatError extends Error {
  override readonly name = 'TreeFormatError';
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`tree ${field}: ${message}`, options);
    this.field = field;
  }
}

/** Nodes that cannot make one tree: two with the same name. */
export class DuplicateNodeError extends Error {
  override readonly name = 'DuplicateNodeError';
  readonly nodeName: string;
  constructor(nodeName: string) {
    super(`two nodes named ${JSON.stringify(nodeName)} in one tree`);
    this.nodeName = nodeName;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** The tree blob of `nodes`: sorted by name as restic sorts them, serialized as restic serializes them. */
export function encodeTree(nodes: readonly Node[]): Buffer {
  const named = nodes.map((node) => ({ node, key: Buffer.from(node.name, 'utf8') }));
  named.sort((a, b) => Buffer.compare(a.key, b.key));
  const parts: string[] = [];
  for (let i = 0; i < named.length; i++) {
    const current = named[i] as { node: Node; key: Buffer };
    if (i > 0 && current.key.equals((named[i - 1] as { key: Buffer }).key)) {
      throw new DuplicateNodeError(current.node.name);
    }
    parts.push(encodeNode(current.node));
  }
  return Buffer.from(`{"nodes":[${parts.join(',')}]}\n`, 'utf8');
}

/** One node as restic's Node.MarshalJSON writes it. */
export function encodeNode(node: Node): string {
  const fields: string[] = [
    `"name":${goJsonString(goQuote(node.name))}`,
    `"type":${goJsonString(node.type)}`,
  ];
  if (node.mode !== 0) fields.push(`"mode":${uint(node.mode, 'mode', 32)}`);
  fields.push(
    `"mtime":"${formatNodeTime(node.mtime)}"`,
    `"atime":"${formatNodeTime(node.atime)}"`,
    `"ctime":"${formatNodeTime(node.ctime)}"`,
    `"uid":${uint(node.uid, 'uid', 32)}`,
    `"gid":${uint(node.gid, 'gid', 32)}`,
  );
  if (node.user) fields.push(`"user":${goJsonString(node.user)}`);
  if (node.group) fields.push(`"group":${goJsonString(node.group)}`);
  if (node.inode) fields.push(`"inode":${uint(node.inode, 'inode', 64)}`);
  if (node.deviceId) fields.push(`"device_id":${uint(node.deviceId, 'device_id', 64)}`);
  if (node.size) fields.push(`"size":${uint(node.size, 'size', 64)}`);
  if (node.links) fields.push(`"links":${uint(node.links, 'links', 64)}`);
  if (node.linkTarget) fields.push(`"linktarget":${goJsonString(node.linkTarget)}`);
  if (node.extendedAttributes?.length) {
    const attributes = node.extendedAttributes.map(
      (a) =>
        `{"name":${goJsonString(a.name)},"value":${a.value === null ? 'null' : `"${a.value.toString('base64')}"`}}`,
    );
    fields.push(`"extended_attributes":[${attributes.join(',')}]`);
  }
  if (node.device) fields.push(`"device":${uint(node.device, 'device', 64)}`);
  fields.push(
    `"content":${node.content === null ? 'null' : `[${node.content.map((id) => `"${blobId(id)}"`).join(',')}]`}`,
  );
  if (node.subtree !== undefined) fields.push(`"subtree":"${blobId(node.subtree)}"`);
  if (node.error) fields.push(`"error":${goJsonString(node.error)}`);
  return `{${fields.join(',')}}`;
}

function uint(value: number | bigint, field: string, bits: 32 | 64): string {
  const big = typeof value === 'bigint' ? value : Number.isSafeInteger(value) ? BigInt(value) : -1n;
  if (big < 0n || big >= 1n << BigInt(bits))
    throw new RangeError(`node ${field} ${value} is not a uint${bits}`);
  return big.toString();
}

function blobId(id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id))
    throw new RangeError(`blob id ${JSON.stringify(id)} is not 64 lower-case hex digits`);
  return id;
}

const HEX = '0123456789abcdef';

/**
 * A string as Go's encoding/json writes it (Go 1.19, HTML escaping on, as json.Marshal does): `"` and `\`
 * backslashed; \n \r \t; other control characters and < > & as \u00XX; U+2028 and U+2029 escaped; a
 * lone surrogate (invalid UTF-8 to Go) as \ufffd; everything else as it is.
 */
export function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let escape: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      if (c === 0x22) escape = '\\"';
      else if (c === 0x5c) escape = '\\\\';
      else if (c === 0x0a) escape = '\\n';
      else if (c === 0x0d) escape = '\\r';
      else if (c === 0x09) escape = '\\t';
      else escape = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x2028 || c === 0x2029) {
      escape = `\\u202${HEX[c & 15]}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      escape = '\\ufffd';
    }
    if (escape !== undefined) {
      out += s.slice(start, i) + escape;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

// Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. (The Unicode
// version is Node's, newer than Go 1.19's 13.0: a character assigned since would be escaped by restic
// 0.14 and not here; both forms decode to the same name.)
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

/**
 * The inside of Go's strconv.Quote(s) (without the surrounding quotes), as restic applies it to names:
 * printable characters as they are, `"` and `\` backslashed, \a \b \f \n \r \t \v, other ASCII control
 * characters as \xHH, other unprintable characters as \uHHHH or \UHHHHHHHH.
 */
export function goQuote(s: string): string {
  let out = '';
  for (const ch of s) {
    const r = ch.codePointAt(0) as number;
    if (r === 0x22 || r === 0x5c) out += `\\${ch}`;
    else if (r < 0x80 ? r >= 0x20 && r < 0x7f : r < 0xd800 || r > 0xdfff ? PRINTABLE.test(ch) : false)
      out += ch;
    else if (r >= 0x07 && r <= 0x0d) out += ['\\a', '\\b', '\\t', '\\n', '\\v', '\\f', '\\r'][r - 0x07];
    else if (r < 0x20 || r === 0x7f) out += `\\x${HEX[r >> 4]}${HEX[r & 15]}`;
    else if (r >= 0xd800 && r <= 0xdfff) out += '\\ufffd';
    else if (r < 0x10000) out += `\\u${r.toString(16).padStart(4, '0')}`;
    else out += `\\U${r.toString(16).padStart(8, '0')}`;
  }
  return out;
}

/** Go's strconv.Unquote of `"${s}"`: what restic does to a name it reads. Names must be UTF-8 here. */
export function goUnquote(s: string): string {
  // Most names have nothing to unquote: no escape, quote or newline, and no lone surrogate (which the
  // slow path turns into U+FFFD, as a UTF-8 round trip does).
  if (!/[\\"\n]/.test(s) && s.isWellFormed()) return s;
  const bytes: number[] = [];
  const pushChar = (cp: number) => bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
  const fail = (why: string): never => {
    throw new TreeFormatError('name', `${JSON.stringify(s)} is not a Go-quoted string: ${why}`);
  };
  for (let i = 0; i < s.length;) {
    const cp = s.codePointAt(i) as number;
    if (cp === 0x22 || cp === 0x0a) fail('unescaped quote or newline');
    if (cp !== 0x5c) {
      pushChar(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = s[i + 1];
    const simple: Record<string, number> = {
      a: 7,
      b: 8,
      f: 12,
      n: 10,
      r: 13,
      t: 9,
      v: 11,
      '\\': 0x5c,
      '"': 0x22,
    };
    if (e !== undefined && e in simple) {
      bytes.push(simple[e] as number);
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const width = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const digits = s.slice(i + 2, i + 2 + width);
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(digits)) fail(`bad \\${e} escape`);
      const value = parseInt(digits, 16);
      if (e === 'x') bytes.push(value);
      else if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) fail('escape of an invalid rune');
      else pushChar(value);
      i += 2 + width;
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const digits = s.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) > 255) fail('bad octal escape');
      bytes.push(parseInt(digits, 8));
      i += 4;
    } else {
      fail(`unknown escape \\${e ?? ''}`);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch (error) {
    throw new TreeFormatError('name', `${JSON.stringify(s)} is not UTF-8 once unquoted (not supported)`, {
      cause: error,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Times: Go's time.Time JSON, RFC 3339 with nanoseconds ("2006-01-02T15:04:05.999999999Z07:00").

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The proleptic Gregorian date of a day number (H. Hinnant's civil_from_days). */
function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

const isLeapYear = (year: number) => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
const daysInMonth = (year: number, month: number) =>
  month === 2 ? (isLeapYear(year) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const NS_PER_SECOND = 1_000_000_000n;
const SECONDS_PER_DAY = 86_400n;

/**
 * A time as Go's time.Time.MarshalJSON writes it, after restic's FixTime (a year past 9999 becomes 9999,
 * one before 0 becomes 0, the rest of the date kept, 29 February becoming 1 March in 9999): the wall clock
 * at the offset, fractional seconds without trailing zeros (none when whole), `Z` for offset 0.
 */
export function formatNodeTime(time: NodeTime): string {
  const offset = time.utcOffsetMinutes;
  if (!Number.isInteger(offset) || Math.abs(offset) >= 24 * 60) {
    throw new RangeError(`utc offset ${offset} is not whole minutes within a day`);
  }
  const local = time.unixNano + BigInt(offset) * 60n * NS_PER_SECOND;
  let seconds = local / NS_PER_SECOND;
  let nanos = local % NS_PER_SECOND;
  if (nanos < 0n) {
    nanos += NS_PER_SECOND;
    seconds -= 1n;
  }
  let days = seconds / SECONDS_PER_DAY;
  let secondOfDay = seconds % SECONDS_PER_DAY;
  if (secondOfDay < 0n) {
    secondOfDay += SECONDS_PER_DAY;
    days -= 1n;
  }
  let { year, month, day } = civilFromDays(Number(days));
  if (year > 9999 || year < 0) {
    year = year > 9999 ? 9999 : 0;
    if (month === 2 && day === 29 && !isLeapYear(year)) [month, day] = [3, 1];
  }
  const s = Number(secondOfDay);
  let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(Math.floor(s / 3600), 2)}:${pad(
    Math.floor(s / 60) % 60,
    2,
  )}:${pad(s % 60, 2)}`;
  if (nanos !== 0n) text += `.${nanos.toString().padStart(9, '0').replace(/0+$/, '')}`;
  if (offset === 0) return `${text}Z`;
  const abs = Math.abs(offset);
  return `${text}${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** A time as Go's time.Time.UnmarshalJSON reads RFC 3339 (fraction digits past 9 are cut, as Go does). */
export function parseNodeTime(text: string): NodeTime {
  const m = RFC3339.exec(text);
  const [, y, mo, d, h, mi, s, fraction, sign, oh, om] = m ?? [];
  const bad = (why: string) =>
    new TreeFormatError('time', `${JSON.stringify(text)} is not an RFC 3339 time: ${why}`);
  if (!m || !y || !mo || !d || !h || !mi || !s) throw bad('wrong form');
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) throw bad('no such day');
  if (hour > 23 || minute > 59 || second > 59) throw bad('no such time of day');
  const offsetHours = Number(oh ?? 0);
  const offsetMinutes = Number(om ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59) throw bad('no such offset');
  const offset = (sign === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  // Seconds of years 0-9999 fit a double exactly; one BigInt step at the end.
  const unixSeconds =
    daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
  const nanos = fraction ? Number(fraction.slice(0, 9).padEnd(9, '0')) : 0;
  return {
    unixNano: BigInt(unixSeconds) * NS_PER_SECOND + BigInt(nanos),
    utcOffsetMinutes: offset === 0 ? 0 : offset,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

type Json = null | boolean | number | string | bigint | Json[] | { [key: string]: Json };

// Fields that are uint64 in restic's Node: read from their source text, so values past 2^53 stay exact.
const BIG_FIELDS = new Set(['inode', 'device_id', 'device', 'size', 'links', 'uid', 'gid', 'mode']);

/** A tree blob's nodes, as restic reads them (unknown fields are ignored, absent ones are zero). */
export function decodeTree(blob: Uint8Array): Node[] {
  let parsed: Json;
  const text = Buffer.from(blob.buffer, blob.byteOffset, blob.length).toString('utf8');
  try {
    // Without a reviver first (it costs as much as the parse): a number of a uint64 field that a double
    // may not hold exactly (2^53 and up) shows itself as such, and then the text is parsed again with a
    // reviver that reads those fields from their source.
    parsed = JSON.parse(text) as Json;
    if (hasUnsafeBigField(parsed))
      parsed = JSON.parse(text, (key, value, context?: { source?: string }) =>
        BIG_FIELDS.has(key) && typeof value === 'number' && context?.source !== undefined
          ? BigInt(context.source)
          : (value as Json),
      ) as Json;
  } catch (error) {
    throw new TreeFormatError('json', 'not valid JSON', { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof parsed === 'bigint') {
    throw new TreeFormatError('json', 'not an object');
  }
  const nodes = parsed['nodes'];
  if (nodes === null || nodes === undefined) return [];
  if (!Array.isArray(nodes)) throw new TreeFormatError('nodes', 'not an array');
  return nodes.map((node, i) => decodeNode(node, i));
}

/** Whether a parsed tree has a uint64 field whose number may have lost precision as a double. */
function hasUnsafeBigField(parsed: Json): boolean {
  const nodes = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && parsed['nodes'];
  if (!Array.isArray(nodes)) return false;
  for (const node of nodes) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || typeof node === 'bigint')
      continue;
    for (const field of BIG_FIELDS) {
      const v = node[field];
      if (typeof v === 'number' && !Number.isSafeInteger(v)) return true;
    }
  }
  return false;
}

/** A JSON value for an error message. */
function show(v: Json | undefined): string {
  return typeof v === 'bigint' ? v.toString() : (JSON.stringify(v) ?? 'nothing');
}

function decodeNode(value: Json, index: number): Node {
  const where = (field: string) => `nodes[${index}].${field}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof value === 'bigint') {
    throw new TreeFormatError(`nodes[${index}]`, 'not an object');
  }
  const string = (field: string): string | undefined => {
    const v = value[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new TreeFormatError(where(field), `${show(v)} is not a string`);
    return v;
  };
  const big = (field: string, bits: 32 | 64): bigint => {
    let v = value[field];
    if (v === undefined || v === null) return 0n;
    if (typeof v === 'number' && Number.isSafeInteger(v)) v = BigInt(v);
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << BigInt(bits)) {
      throw new TreeFormatError(where(field), `${show(v)} is not a uint${bits}`);
    }
    return v;
  };
  const small = (field: string, bits: 32 | 64): number => {
    const v = big(field, bits);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new TreeFormatError(where(field), `${v} is too large here`);
    return Number(v);
  };
  const time = (field: string): NodeTime => {
    const text = string(field);
    if (text === undefined) return { unixNano: -62135596800n * NS_PER_SECOND, utcOffsetMinutes: 0 }; // Go's zero time
    try {
      return parseNodeTime(text);
    } catch (error) {
      throw new TreeFormatError(where(field), (error as Error).message, { cause: error });
    }
  };
  const id = (field: string, v: Json): string => {
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) {
      throw new TreeFormatError(where(field), `${show(v)} is not a blob id`);
    }
    return v;
  };

  const type = string('type') ?? '';
  if (!NODE_TYPES.has(type))
    throw new TreeFormatError(where('type'), `unknown node type ${JSON.stringify(type)}`);
  let name: string;
  try {
    name = goUnquote(string('name') ?? '');
  } catch (error) {
    throw new TreeFormatError(where('name'), (error as Error).message, { cause: error });
  }
  const node: Node = {
    name,
    type: type as NodeType,
    mode: small('mode', 32),
    mtime: time('mtime'),
    atime: time('atime'),
    ctime: time('ctime'),
    uid: small('uid', 32),
    gid: small('gid', 32),
    content: null,
  };
  const user = string('user');
  if (user) node.user = user;
  const group = string('group');
  if (group) node.group = group;
  const inode = big('inode', 64);
  if (inode) node.inode = inode;
  const deviceId = big('device_id', 64);
  if (deviceId) node.deviceId = deviceId;
  const size = small('size', 64);
  if (size) node.size = size;
  const links = small('links', 64);
  if (links) node.links = links;
  const linkTarget = string('linktarget');
  if (linkTarget) node.linkTarget = linkTarget;
  const attributes = value['extended_attributes'];
  if (Array.isArray(attributes) && attributes.length > 0) {
    node.extendedAttributes = attributes.map((a, j) => {
      const field = where(`extended_attributes[${j}]`);
      if (typeof a !== 'object' || a === null || Array.isArray(a) || typeof a === 'bigint') {
        throw new TreeFormatError(field, 'not an object');
      }
      const attrName = a['name'] ?? '';
      const attrValue = a['value'] ?? null;
      if (typeof attrName !== 'string' || (attrValue !== null && typeof attrValue !== 'string')) {
        throw new TreeFormatError(field, 'name or value of the wrong type');
      }
      return { name: attrName, value: attrValue === null ? null : Buffer.from(attrValue, 'base64') };
    });
  } else if (attributes !== undefined && attributes !== null && !Array.isArray(attributes)) {
    throw new TreeFormatError(where('extended_attributes'), 'not an array');
  }
  const device = big('device', 64);
  if (device) node.device = device;
  const content = value['content'];
  if (Array.isArray(content)) node.content = content.map((v, j) => id(`content[${j}]`, v));
  else if (content !== undefined && content !== null)
    throw new TreeFormatError(where('content'), 'not an array');
  const subtree = value['subtree'];
  if (subtree !== undefined && subtree !== null) node.subtree = id('subtree', subtree);
  const error = string('error');
  if (error) node.error = error;
  return node;
}
