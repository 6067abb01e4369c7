// Index files (`index/<id>`): which blobs each pack holds, as JSON
// {"supersedes": [...], "packs": [{"id", "blobs": [{"id", "type", "offset", "length",
// "uncompressed_length"?}]}]}, stored as an unpacked file. `supersedes` is written only when there is
// something to supersede (restic 0.14 omits it when empty; newer restic no longer writes it).
import { CorruptDataError } from './errors.ts';
import { isId } from './ids.ts';
import type { PackBlob } from './pack.ts';

/** restic starts a new index file after this many blobs, keeping each file well below 8 MiB. */
export const INDEX_MAX_BLOBS = 50_000;

export interface IndexPack {
  id: string;
  blobs: PackBlob[];
}

export interface IndexFile {
  supersedes: string[];
  packs: IndexPack[];
}

interface BlobJson {
  id: string;
  type: 'data' | 'tree';
  offset: number;
  length: number;
  uncompressed_length?: number;
}

/** The JSON document of an index file. */
export function indexFileJson(file: IndexFile): object {
  const packs = file.packs.map((pack) => ({
    id: pack.id,
    blobs: pack.blobs.map((b): BlobJson => {
      const json: BlobJson = { id: b.id, type: b.type, offset: b.offset, length: b.length };
      if (b.uncompressedLength !== undefined) json.uncompressed_length = b.uncompressedLength;
      return json;
    }),
  }));
  return file.supersedes.length > 0 ? { supersedes: file.supersedes, packs } : { packs };
}

/** Reads an index file's JSON (also the oldest format, a bare array of packs); `path` names it for errors. */
export function parseIndexFile(value: unknown, path: string): IndexFile {
  const bad = (reason: string) => new CorruptDataError(path, reason);
  const doc = (Array.isArray(value) ? { packs: value } : value) as { supersedes?: unknown; packs?: unknown };
  if (typeof doc !== 'object' || doc === null) throw bad('it is not a JSON object');
  const supersedes = doc.supersedes ?? [];
  if (!Array.isArray(supersedes) || !supersedes.every((id) => typeof id === 'string' && isId(id)))
    throw bad('supersedes is not a list of ids');
  const packs = doc.packs ?? [];
  if (!Array.isArray(packs)) throw bad('packs is not a list');
  return {
    supersedes: supersedes as string[],
    packs: packs.map((pack: { id?: unknown; blobs?: unknown }, i): IndexPack => {
      if (typeof pack?.id !== 'string' || !isId(pack.id)) throw bad(`pack ${i} has no valid id`);
      if (!Array.isArray(pack.blobs)) throw bad(`pack ${pack.id} has no blob list`);
      return {
        id: pack.id,
        blobs: pack.blobs.map((blob: Partial<BlobJson>) => parseBlob(blob, pack.id as string, bad)),
      };
    }),
  };
}

function parseBlob(blob: Partial<BlobJson>, pack: string, bad: (reason: string) => Error): PackBlob {
  const uint32 = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
  if (typeof blob?.id !== 'string' || !isId(blob.id)) throw bad(`a blob of pack ${pack} has no valid id`);
  if (blob.type !== 'data' && blob.type !== 'tree')
    throw bad(`blob ${blob.id} has the unknown type ${String(blob.type)}`);
  if (!uint32(blob.offset) || !uint32(blob.length))
    throw bad(`blob ${blob.id} has an invalid offset or length`);
  const u = blob.uncompressed_length;
  if (u !== undefined && u !== 0 && !uint32(u))
    throw bad(`blob ${blob.id} has an invalid uncompressed_length`);
  const entry: PackBlob = {
    type: blob.type,
    id: blob.id,
    offset: blob.offset as number,
    length: blob.length as number,
  };
  if (u !== undefined && u !== 0) entry.uncompressedLength = u;
  return entry;
}
