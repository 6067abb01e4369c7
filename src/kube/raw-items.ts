// The items of a list page as bytes, without parsing them: a backup copies each item's JSON from the
// API server's answer into the archive as it came, instead of parsing tens of thousands of objects only
// to encode them again. The scanner finds each item's bounds (strings skipped with their escapes, braces
// and brackets counted) and reads its name and namespace from the front of its metadata, where the API
// server writes them (ObjectMeta's field order: name, generateName, namespace, then the rest). An item
// that does not start that way is parsed instead, so every item comes out right either way.

type ParsedItem = { metadata?: { name?: unknown; namespace?: unknown } } & Record<string, unknown>;

/** One item of a raw list page. */
export type RawItem =
  | {
      /** The item's JSON, as the API server sent it (a view of the page's buffer). */
      bytes: Buffer;
      name: string;
      namespace?: string | undefined;
    }
  | {
      /** An item the scanner could not read ahead: parsed (its apiVersion and kind not filled in). */
      object: ParsedItem;
    };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** The index just after the string whose opening quote is at `open`. */
function skipString(body: Buffer, open: number): number {
  let at = open + 1;
  for (;;) {
    const close = body.indexOf(QUOTE, at);
    if (close === -1) throw new SyntaxError('unterminated string in a list page');
    let backslashes = 0;
    while (body[close - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return close + 1;
    at = close + 1;
  }
}

/** The index just after the object or array that starts at `open`. */
function skipValue(body: Buffer, open: number): number {
  let depth = 0;
  let at = open;
  while (at < body.length) {
    const byte = body[at] as number;
    if (byte === QUOTE) {
      at = skipString(body, at);
      continue;
    }
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
    else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return at + 1;
    }
    at++;
  }
  throw new SyntaxError('unterminated object in a list page');
}

const METADATA_HEAD = Buffer.from('{"metadata":{');

/**
 * The name and namespace at the front of an item's metadata, or undefined when the item does not start
 * with `{"metadata":{"name":...` (then the caller parses it).
 */
function nameAhead(body: Buffer, start: number): { name: string; namespace?: string } | undefined {
  if (body.compare(METADATA_HEAD, 0, METADATA_HEAD.length, start, start + METADATA_HEAD.length) !== 0)
    return undefined;
  let at = start + METADATA_HEAD.length;
  let name: string | undefined;
  let namespace: string | undefined;
  // Read "key":"string" pairs while they are name, generateName or namespace.
  for (;;) {
    if (body[at] !== QUOTE) break;
    const keyEnd = skipString(body, at);
    const key = body.toString('latin1', at + 1, keyEnd - 1);
    if (key !== 'name' && key !== 'generateName' && key !== 'namespace') break;
    if (body[keyEnd] !== 0x3a || body[keyEnd + 1] !== QUOTE) return undefined;
    const valueEnd = skipString(body, keyEnd + 1);
    const raw = body.toString('utf8', keyEnd + 1, valueEnd);
    const value = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
    if (key === 'name') name = value;
    if (key === 'namespace') namespace = value;
    if (body[valueEnd] !== COMMA) break;
    at = valueEnd + 1;
  }
  if (name === undefined) return undefined;
  return namespace === undefined ? { name } : { name, namespace };
}

/**
 * The items of a list page's JSON body, in order. Each is its bytes with its name and namespace, or,
 * where those cannot be read from its front, the parsed object. Throws SyntaxError on a body that is not
 * a list (the caller then parses the page whole, which reports the problem).
 */
export function* rawListItems(body: Buffer): Generator<RawItem> {
  const key = body.indexOf('"items":');
  if (key === -1) return;
  let at = key + '"items":'.length;
  while (isSpace(body[at] as number)) at++;
  if (body[at] === 0x6e) return; // "items":null
  if (body[at] !== OPEN_BRACKET) throw new SyntaxError('the items of a list page are not an array');
  at++;
  for (;;) {
    while (isSpace(body[at] as number)) at++;
    const byte = body[at];
    if (byte === CLOSE_BRACKET) return;
    if (byte === COMMA) {
      at++;
      continue;
    }
    if (byte !== OPEN_BRACE) throw new SyntaxError('an item of a list page is not an object');
    const end = skipValue(body, at);
    const ahead = nameAhead(body, at);
    if (ahead) yield { bytes: body.subarray(at, end), ...ahead };
    else yield { object: JSON.parse(body.toString('utf8', at, end)) as ParsedItem };
    at = end;
  }
}
