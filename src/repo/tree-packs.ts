// Whole tree packs, kept in memory while trees are read from them. A backup with a parent reads the
// parent's tree of every directory, and a restore the tree of every directory it restores: one ranged
// read per tree was one object-store round trip per directory (about 500 for 50,000 files), and the
// request handling cost more main-thread CPU than the walk itself. The trees of a snapshot sit in a few
// packs (16 MiB each at most, as the repository writes them), so each pack is read once, whole, and its
// trees are opened (and checked) from the copy. restic keeps tree packs in a cache directory for the same
// reason; this one lives as long as the repository object, within `maxBytes`.
import type { Backend } from './backend.ts';
import type { SignalOptions } from './environment.ts';
import type { PackBlob } from './pack.ts';

export class TreePacks {
  readonly #backend: Backend;
  readonly #maxBytes: number;
  /** Packs by name, the least recently used first; undefined: too large to keep whole, or not readable. */
  readonly #packs = new Map<string, Promise<Buffer | undefined>>();
  readonly #sizes = new Map<string, number>();
  #bytes = 0;

  constructor(backend: Backend, maxBytes: number) {
    this.#backend = backend;
    this.#maxBytes = maxBytes;
  }

  /**
   * The stored bytes of `blob` from the copy of its whole pack (read first when it is not kept), or
   * undefined when the pack is not kept whole (larger than half of `maxBytes`, or its reading failed):
   * the caller then reads the blob alone, which reports its own errors.
   */
  async ciphertext(pack: string, blob: PackBlob, options: SignalOptions = {}): Promise<Buffer | undefined> {
    let loading = this.#packs.get(pack);
    if (loading) {
      this.#packs.delete(pack); // most recently used: last
      this.#packs.set(pack, loading);
    } else {
      loading = this.#load(pack, options);
      this.#packs.set(pack, loading);
      void loading.then((bytes) => {
        if (this.#packs.get(pack) !== loading) return;
        if (bytes === undefined) {
          this.#packs.delete(pack); // asked again next time: a failure may have been an abort
          return;
        }
        this.#sizes.set(pack, bytes.length);
        this.#bytes += bytes.length;
        this.#evict(pack);
      });
    }
    const bytes = await loading;
    if (bytes === undefined || blob.offset + blob.length > bytes.length) return undefined;
    return bytes.subarray(blob.offset, blob.offset + blob.length);
  }

  /** Forgets every pack kept (a pack still loading is read for its callers, then not kept). */
  clear(): void {
    this.#packs.clear();
    this.#sizes.clear();
    this.#bytes = 0;
  }

  async #load(pack: string, options: SignalOptions): Promise<Buffer | undefined> {
    const handle = { type: 'data' as const, name: pack };
    try {
      const info = await this.#backend.stat(handle, options);
      if (!info || info.size > this.#maxBytes / 2) return undefined;
      const bytes = await this.#backend.load(handle, options);
      return bytes.length === info.size ? bytes : undefined;
    } catch {
      return undefined;
    }
  }

  /** Drops the least recently used packs (never `keep`) while more than maxBytes are held. */
  #evict(keep: string): void {
    for (const name of this.#packs.keys()) {
      if (this.#bytes <= this.#maxBytes) return;
      const size = this.#sizes.get(name);
      if (name === keep || size === undefined) continue; // still loading
      this.#packs.delete(name);
      this.#sizes.delete(name);
      this.#bytes -= size;
    }
  }
}
