// The in-memory master index: where every blob of the repository is (pack, offset, length, plaintext
// length), merged from all index files and from the packs this process has uploaded. Built to stay
// compact for millions of blobs: per blob type an IdTable of blob ids plus four uint32s per entry
// (pack number, offset, length, uncompressed length or 0), and one IdTable of pack ids. That is about
// 56 to 64 bytes per blob after trim() (restic's own index: about 62), see docs/formats/repository.md.
import { IdTable, idBytes } from './id-table.ts';
import type { BlobType, PackBlob } from './pack.ts';

/** A blob's location. */
export interface IndexEntry extends PackBlob {
  pack: string;
}

const FIELDS = 4; // pack number, offset, length, uncompressed length (0: not compressed)

class BlobTable {
  readonly ids = new IdTable();
  records = new Uint32Array(FIELDS * 64);

  add(id: Buffer, pack: number, blob: PackBlob): void {
    const entry = this.ids.add(id);
    if ((entry + 1) * FIELDS > this.records.length) {
      const next = new Uint32Array(this.records.length * 2);
      next.set(this.records);
      this.records = next;
    }
    const at = entry * FIELDS;
    this.records[at] = pack;
    this.records[at + 1] = blob.offset;
    this.records[at + 2] = blob.length;
    this.records[at + 3] = blob.uncompressedLength ?? 0;
  }

  trim(): void {
    this.ids.trim();
    this.records = this.records.slice(0, Math.max(FIELDS, this.ids.size * FIELDS));
  }
}

export class MasterIndex {
  readonly #packs = new IdTable();
  readonly #tables: Record<BlobType, BlobTable> = { data: new BlobTable(), tree: new BlobTable() };

  /** Records the blobs of a pack. Adding the same pack again adds only blobs not yet recorded for it. */
  addPack(pack: string, blobs: readonly PackBlob[]): void {
    const packBytes = idBytes(pack);
    let number = this.#packs.first(packBytes);
    const known = number >= 0;
    if (!known) number = this.#packs.add(packBytes);
    for (const blob of blobs) {
      if (known && this.lookup(blob.type, blob.id).some((e) => e.pack === pack && e.offset === blob.offset))
        continue;
      this.#tables[blob.type].add(idBytes(blob.id), number, blob);
    }
  }

  /** Every place the blob is stored, oldest first; empty when the index does not know it. */
  lookup(type: BlobType, id: string): IndexEntry[] {
    const table = this.#tables[type];
    const found: IndexEntry[] = [];
    for (const entry of table.ids.find(idBytes(id))) found.push(this.#entry(type, entry));
    return found;
  }

  has(type: BlobType, id: string): boolean {
    return this.#tables[type].ids.first(idBytes(id)) >= 0;
  }

  /** All blob entries, duplicates included. */
  *entries(): Generator<IndexEntry> {
    for (const type of ['data', 'tree'] as const)
      for (let entry = 0; entry < this.#tables[type].ids.size; entry++) yield this.#entry(type, entry);
  }

  /** The packs the index knows. */
  *packs(): Generator<string> {
    for (let number = 0; number < this.#packs.size; number++) yield this.#packs.hex(number);
  }

  get blobCount(): number {
    return this.#tables.data.ids.size + this.#tables.tree.ids.size;
  }

  get packCount(): number {
    return this.#packs.size;
  }

  /** Gives back spare capacity, after loading the index files. */
  trim(): void {
    this.#packs.trim();
    this.#tables.data.trim();
    this.#tables.tree.trim();
  }

  /** Bytes held by the tables. */
  get memoryBytes(): number {
    const table = (t: BlobTable) => t.ids.memoryBytes + t.records.byteLength;
    return this.#packs.memoryBytes + table(this.#tables.data) + table(this.#tables.tree);
  }

  #entry(type: BlobType, entry: number): IndexEntry {
    const table = this.#tables[type];
    const at = entry * FIELDS;
    const records = table.records;
    const uncompressed = records[at + 3] ?? 0;
    return {
      type,
      id: table.ids.hex(entry),
      pack: this.#packs.hex(records[at] ?? 0),
      offset: records[at + 1] ?? 0,
      length: records[at + 2] ?? 0,
      ...(uncompressed === 0 ? {} : { uncompressedLength: uncompressed }),
    };
  }
}
