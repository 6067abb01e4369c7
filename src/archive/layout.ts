// The one place that builds and parses archive entry paths (docs/formats/archive.md, "Paths").
import { ArchiveCorruptError, InvalidArchiveItemError, UnsupportedArchiveVersionError } from './errors.ts';

/** The format version this writer records in `metadata/version` (Velero's BackupFormatVersion). */
export const ARCHIVE_FORMAT_VERSION = '1.1.0';
export const VERSION_PATH = 'metadata/version';
/** Kubernetes objects are limited to a few MiB by the API server; this leaves ample room. */
export const DEFAULT_MAX_ITEM_BYTES = 32 * 1024 * 1024;

const PREFERRED_SUFFIX = '-preferredversion';
const versionPattern = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Where one item lives in the archive. */
export interface ItemLocation {
  groupResource: string;
  /** Undefined for cluster-scoped items. */
  namespace?: string;
  name: string;
  /** Undefined for the legacy (version-less) path, which holds the preferred version. */
  version?: string;
  /** True for the legacy path and for `<ver>-preferredversion/`. */
  preferred: boolean;
}

/** Why `segment` cannot be a path segment, or undefined if it can. */
export function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'must not be empty';
  if (segment === '.' || segment === '..') return 'must not be "." or ".."';
  if (segment.includes('/')) return 'must not contain "/"';
  if (segment.includes('\0')) return 'must not contain a NUL character';
  return undefined;
}

/** Refuses a version that could be mistaken for another part of the path. */
export function versionProblem(version: string): string | undefined {
  if (!versionPattern.test(version)) return 'must be a lower-case DNS label such as v1 or v2beta1';
  if (version === 'namespaces' || version === 'cluster') return 'is a reserved directory name';
  if (version.endsWith(PREFERRED_SUFFIX)) return `must not end with ${PREFERRED_SUFFIX}`;
  return undefined;
}

/** The path of one item; `version` undefined gives the legacy path. Fields must be valid already. */
export function itemPath(location: Omit<ItemLocation, 'preferred'> & { preferred?: boolean }): string {
  const { groupResource, namespace, name, version } = location;
  const versionDir =
    version === undefined ? '' : `${version}${location.preferred === true ? PREFERRED_SUFFIX : ''}/`;
  const scope = namespace === undefined ? 'cluster' : `namespaces/${namespace}`;
  return `resources/${groupResource}/${versionDir}${scope}/${name}.json`;
}

/** Parses `resources/...` item paths; throws ArchiveCorruptError for any other shape. */
export function parseItemPath(path: string): ItemLocation {
  const corrupt = (reason: string) => new ArchiveCorruptError(path, reason);
  const segments = path.split('/');
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) throw corrupt(`unsafe path: a segment ${problem}`);
  }
  const [top, groupResource, ...rest] = segments;
  if (top !== 'resources' || groupResource === undefined) throw corrupt('not an item path');
  const file = rest.at(-1);
  if (file === undefined || !file.endsWith('.json') || file === '.json') {
    throw corrupt('item file name must be <name>.json');
  }
  const name = file.slice(0, -'.json'.length);
  const [first, second, third] = rest;
  if (rest.length === 2 && first === 'cluster') return { groupResource, name, preferred: true };
  if (rest.length === 3 && first === 'namespaces' && second !== undefined) {
    return { groupResource, namespace: second, name, preferred: true };
  }
  if (first !== undefined && first !== 'namespaces' && first !== 'cluster') {
    const preferred = first.endsWith(PREFERRED_SUFFIX);
    const version = preferred ? first.slice(0, -PREFERRED_SUFFIX.length) : first;
    if (version === '') throw corrupt('empty version directory');
    if (rest.length === 3 && second === 'cluster') return { groupResource, name, version, preferred };
    if (rest.length === 4 && second === 'namespaces' && third !== undefined) {
      return { groupResource, namespace: third, name, version, preferred };
    }
  }
  throw corrupt(
    'not a resources/<group-resource>/[<version>/](cluster|namespaces/<namespace>)/<name>.json path',
  );
}

/** Checks the content of `metadata/version`: any 1.x format (including Velero's old "1") is read. */
export function checkFormatVersion(content: string): string {
  const version = content.replace(/\n$/, '');
  const match = /^(\d+)(\.\d+){0,2}$/.exec(version);
  if (match?.[1] !== '1') throw new UnsupportedArchiveVersionError(version);
  return version;
}

/** Validates one writer field, throwing InvalidArchiveItemError that names it. */
export function checkSegment(field: InvalidArchiveItemError['field'], value: string): void {
  const problem = segmentProblem(value);
  if (problem !== undefined) throw new InvalidArchiveItemError(field, value, problem);
}
