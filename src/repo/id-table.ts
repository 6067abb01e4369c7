// A compact, append-only table of 32-byte ids with hash lookup: the ids live back to back in one
// growable byte array, and an open-addressing table of 32-bit slots (linear probing, at most half full)
// points into it. Ids are SHA-256 hashes, so their first four bytes are a good hash. An id may be added
// more than once (the same blob in two packs); `find` yields every entry with that id.
//
// Memory: 32 bytes per id plus 8 to 16 bytes of slots; `trim()` drops the spare capacity that growth
// leaves (up to half the id array) once no more ids are expected.

const ID_BYTES = 32;
const EMPTY = -1;

export class IdTable {
  #ids = new Uint8Array(ID_BYTES * 64);
  #slots = new Int32Array(128).fill(EMPTY);
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** Appends `id` (32 bytes) and returns its entry number. */
  add(id: Uint8Array): number {
    if (id.length !== ID_BYTES) throw new RangeError(`an id is ${ID_BYTES} bytes, not ${id.length}`);
    if ((this.#count + 1) * ID_BYTES > this.#ids.length) this.#ids = grow(this.#ids, this.#ids.length * 2);
    if ((this.#count + 1) * 2 > this.#slots.length) this.#rehash(this.#slots.length * 2);
    const entry = this.#count++;
    this.#ids.set(id, entry * ID_BYTES);
    this.#place(entry);
    return entry;
  }

  /** Entry numbers holding `id`, in the order they were added. */
  *find(id: Uint8Array): Generator<number> {
    const mask = this.#slots.length - 1;
    for (let slot = hashOf(id, 0) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.#slots[slot] ?? EMPTY;
      if (entry === EMPTY) return;
      if (this.#equals(entry, id)) yield entry;
    }
  }

  /** The first entry holding `id`, or -1. */
  first(id: Uint8Array): number {
    for (const entry of this.find(id)) return entry;
    return -1;
  }

  /** The id of an entry, in hex. */
  hex(entry: number): string {
    return Buffer.from(this.#ids.buffer, entry * ID_BYTES, ID_BYTES).toString('hex');
  }

  /** Gives back the spare capacity of the id array. */
  trim(): void {
    this.#ids = grow(this.#ids, Math.max(ID_BYTES, this.#count * ID_BYTES));
  }

  /** Bytes held by the arrays. */
  get memoryBytes(): number {
    return this.#ids.byteLength + this.#slots.byteLength;
  }

  #place(entry: number): void {
    const mask = this.#slots.length - 1;
    let slot = hashOf(this.#ids, entry * ID_BYTES) & mask;
    while (this.#slots[slot] !== EMPTY) slot = (slot + 1) & mask;
    this.#slots[slot] = entry;
  }

  #rehash(size: number): void {
    this.#slots = new Int32Array(size).fill(EMPTY);
    for (let entry = 0; entry < this.#count; entry++) this.#place(entry);
  }

  #equals(entry: number, id: Uint8Array): boolean {
    const base = entry * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (this.#ids[base + i] !== id[i]) return false;
    return true;
  }
}

function hashOf(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] ?? 0) << 24) |
      ((bytes[at + 1] ?? 0) << 16) |
      ((bytes[at + 2] ?? 0) << 8) |
      (bytes[at + 3] ?? 0)) >>>
    0
  );
}

function grow<T extends Uint8Array | Uint32Array>(array: T, length: number): T {
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array.subarray(0, Math.min(array.length, length)));
  return next;
}

/** An id in hex as the 32 bytes the tables hold. */
export function idBytes(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}
