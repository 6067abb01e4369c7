// The backup engine: lists the selected objects at one storage revision and streams them into an archive
// writer, following related items. It knows nothing of locations, the CLI or controllers: it takes plain
// values, writes into the archive it is given, reports progress through a callback, and returns the
// outcome with every per-item problem as data (docs/design/backup-store.md, "The engine's flow").
import {
  matchesLabels,
  parseLabelSelector,
  Results,
  scopeOf,
  type BackupPhase,
  type ConsistencyMode,
} from '../api/index.ts';
import type { ArchiveWriter } from '../archive/index.ts';
import {
  currentRevision,
  isRevisionUnavailable,
  KubeApiError,
  listPages,
  listRawPages,
  rawListItems,
  type ApiResource,
  type KubeClient,
  type KubeObject,
  type ResourceMapper,
} from '../kube/index.ts';
import {
  builtinItemActions,
  runItemActions,
  type ActionResult,
  type ItemAction,
  type ItemRef,
} from './item-actions.ts';
import { excludedFromBackupBy, type Selection } from './selection.ts';

export interface BackupProgress {
  itemsBackedUp: number;
  /**
   * The items known so far: those written, and those a list has announced (only lists whose every item
   * goes into the backup announce). It grows while resources are listed; `final` says it no longer will.
   */
  totalItems: number;
  /** Listing has ended: totalItems is the backup's count. */
  final: boolean;
  /** The resource whose items are being written; never one the backup holds nothing of. */
  currentResource?: string;
  /** A location that has taken no bytes for a while, with bytes waiting (set by createBackup: stalls.ts). */
  waitingFor?: { location: string; seconds: number } | undefined;
}

export interface LogEntry {
  level: 'info' | 'warning' | 'error';
  message: string;
  resource?: string;
  namespace?: string;
  name?: string;
}

export interface BackupEngineInput {
  client: KubeClient;
  mapper: ResourceMapper;
  selection: Selection;
  consistency: ConsistencyMode;
  archive: ArchiveWriter;
  itemActions?: readonly ItemAction[] | undefined;
  /** Items per list page (default 500). */
  pageSize?: number | undefined;
  /**
   * Copy the items of resources no item action looks at into the archive as the API server sent them,
   * without parsing them (default true). False parses and encodes every item (the same objects).
   */
  copyRawItems?: boolean | undefined;
  onProgress?: ((progress: BackupProgress) => void) | undefined;
  log?: ((entry: LogEntry) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface BackupOutcome {
  phase: Extract<BackupPhase, 'Completed' | 'PartiallyFailed'>;
  results: Results;
  /** Velero's resource list: {"apps/v1/Deployment": ["ns/name", ...]}, sorted. */
  resourceList: Record<string, string[]>;
  consistency: { mode: ConsistencyMode; revision?: string; bestEffortResources: string[] };
  progress: { itemsBackedUp: number; totalItems: number };
}

interface ListTarget {
  resource: ApiResource;
  namespace?: string | undefined;
  /** Only this object (related items): listed by field selector, without the label selectors. */
  name?: string | undefined;
  /** List without the backup's label selectors (namespaces, CRDs: what the backup needs to know). */
  unfiltered?: boolean;
  keep?: (item: KubeObject) => boolean;
  /** `keep` is "in one of the backup's namespaces" (applied to raw items by their namespace). */
  keepIsNamespaces?: boolean;
  /** The items go into the archive and nowhere else: they may be copied raw. */
  archived?: boolean;
}

const CRDS = 'customresourcedefinitions.apiextensions.k8s.io';
/** Every exclude-from-backup label ends so: a raw item without these bytes carries none. */
const EXCLUDE_MARK = Buffer.from('/exclude-from-backup');
const itemKey = (groupResource: string, namespace: string | undefined, name: string) =>
  `${groupResource}/${namespace ?? ''}/${name}`;
const where = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);

/**
 * Runs a backup into `input.archive` and resolves when every item is in it (the caller finishes the
 * archive). A failure of the whole backup (the cluster unreachable, the archive broken, an abort) rejects;
 * per-item and per-resource problems are in the outcome's results.
 */
export async function runBackupEngine(input: BackupEngineInput): Promise<BackupOutcome> {
  const { client, mapper, selection, archive, signal } = input;
  const actions = input.itemActions ?? builtinItemActions;
  const results = new Results();
  const log = (entry: LogEntry) => {
    if (entry.level === 'error') results.error(scopeOf(entry.namespace), entry.message);
    if (entry.level === 'warning') results.warning(scopeOf(entry.namespace), entry.message);
    input.log?.(entry);
  };
  const written = new Set<string>();
  const resourceList = new Map<string, string[]>();
  const bestEffort = new Set<string>();
  const progress: BackupProgress = { itemsBackedUp: 0, totalItems: 0, final: false };
  const report = () => input.onProgress?.({ ...progress });
  const related: ItemRef[] = [];

  const revision = input.consistency === 'snapshot' ? await currentRevision(client, { signal }) : undefined;
  log({
    level: 'info',
    message: revision
      ? `listing every resource at storage revision ${revision}`
      : 'listing every resource at its latest state (best effort)',
  });

  // Lists a target at the revision (falling back to latest, with a warning, where the revision cannot
  // be served) and hands every item to `each`. List failures are per-resource errors, not exceptions.
  async function list(target: ListTarget, each: (item: KubeObject) => Promise<void>): Promise<void> {
    const { resource, namespace } = target;
    const selectors =
      target.name === undefined && !target.unfiltered ? selection.labelSelectors : [undefined];
    const fieldSelector = target.name === undefined ? undefined : `metadata.name=${target.name}`;
    const seen = selectors.length > 1 ? new Set<string>() : undefined;
    // A list announces its length (progress) only when each of its items is written: one selector (no
    // de-duplication), no name, and no filter on this side (a cluster-wide list kept to some namespaces).
    const announcing = target.name === undefined && target.keep === undefined && selectors.length === 1;
    // The items of this target written so far (namespace/name), for a relist after a list that failed
    // mid-way (its revision or continue token expired: 410): those already written, at the revision,
    // are not written again.
    const writtenHere = new Set<string>();
    let relisting = false;
    for (const labelSelector of selectors) {
      for (;;) {
        const atRevision = bestEffort.has(resource.groupResource) ? undefined : revision;
        try {
          const options = { namespace, labelSelector, fieldSelector, resourceVersion: atRevision };
          let announced = false;
          const pages = copiesRaw(target)
            ? listRawPages(client, resource, { ...options, limit: input.pageSize, signal })
            : listPages(client, resource, { ...options, limit: input.pageSize, signal });
          for await (const page of pages) {
            if ('body' in page) {
              // The page's length is known once it is split: writeRawPage announces it.
              const announce = !announced && announcing && !relisting;
              await writeRawPage(target, page.body, announce ? (page.remainingItemCount ?? 0) : undefined, {
                written: writtenHere,
                relisting,
              });
              announced = page.remainingItemCount !== undefined;
              continue;
            }
            // The first page announces the list's length when the server counts it (no selectors), and
            // only when every item of the list goes into the backup (no filter on this side).
            if (announcing && !relisting && !announced) {
              progress.totalItems += page.items.length + (page.remainingItemCount ?? 0);
              announced = page.remainingItemCount !== undefined;
            }
            for (const item of page.items) {
              if (target.keep && !target.keep(item)) continue;
              const here = where(item.metadata.namespace, item.metadata.name);
              if (relisting && writtenHere.has(here)) continue;
              writtenHere.add(here);
              if (seen) {
                const uid = item.metadata.uid ?? item.metadata.name;
                if (seen.has(uid)) continue;
                seen.add(uid);
              }
              await each(item);
            }
          }
          break;
        } catch (error) {
          if (atRevision !== undefined && isRevisionUnavailable(error)) {
            bestEffort.add(resource.groupResource);
            relisting = true;
            log({
              level: 'warning',
              message: `${resource.groupResource} cannot be listed at revision ${atRevision} (${(error as Error).message}); listed at its latest state instead`,
              resource: resource.groupResource,
            });
            continue;
          }
          if (!(error instanceof KubeApiError)) throw error;
          if (error.status === 404) {
            // The resource stopped being served during the backup (its CRD or API service went away).
            log({
              level: 'warning',
              message: `${resource.groupResource} is no longer served by the cluster; nothing of it was backed up`,
              resource: resource.groupResource,
            });
            return;
          }
          log({
            level: 'error',
            message: `cannot list ${resource.groupResource}${namespace ? ` in namespace ${namespace}` : ''}: ${error.message}`,
            resource: resource.groupResource,
            ...(namespace ? { namespace } : {}),
          });
          return;
        }
      }
    }
  }

  // Only items that related items may name again are remembered (a claim, a volume, a definition), so
  // memory does not grow with the config maps and secrets of a big cluster.
  const relatable = actions.every((a) => a.produces !== undefined)
    ? new Set(actions.flatMap((a) => a.produces ?? []))
    : undefined;
  const remembers = (gr: string) => relatable === undefined || relatable.has(gr);
  const actionsApply = new Map<string, boolean>();
  const anyActionApplies = (gr: string) => {
    let applies = actionsApply.get(gr);
    if (applies === undefined) {
      applies = actions.some((a) =>
        a.appliesTo === 'custom' ? customResources.has(gr) : a.appliesTo.includes(gr),
      );
      actionsApply.set(gr, applies);
    }
    return applies;
  };

  // Whether a target's items are copied raw: resources no item action looks at and no related item may
  // name again, listed with at most one label selector (no de-duplication), filtered by nothing but the
  // backup's namespaces.
  const copiesRaw = (target: ListTarget) =>
    input.copyRawItems !== false &&
    target.archived === true &&
    target.name === undefined &&
    selection.labelSelectors.length <= 1 &&
    (target.keep === undefined || target.keepIsNamespaces === true) &&
    !remembers(target.resource.groupResource) &&
    !anyActionApplies(target.resource.groupResource);
  /** `"apiVersion":"...","kind":"...",` per resource: the API server leaves them out of list items. */
  const typeMetaOf = new Map<string, Buffer>();

  /**
   * Copies a raw page's items into the archive. `remaining` (the items of later pages) is given when the
   * page announces the list's length.
   */
  async function writeRawPage(
    target: ListTarget,
    body: Buffer,
    remaining: number | undefined,
    dedup: { written: Set<string>; relisting: boolean },
  ): Promise<void> {
    const { resource } = target;
    let typeMeta = typeMetaOf.get(resource.groupResource);
    if (!typeMeta) {
      typeMeta = Buffer.from(
        `{"apiVersion":${JSON.stringify(resource.groupVersion)},"kind":${JSON.stringify(resource.kind)},`,
      );
      typeMetaOf.set(resource.groupResource, typeMeta);
    }
    let listed = 0;
    const names: string[] = [];
    for (const raw of rawListItems(body)) {
      listed++;
      if ('object' in raw) {
        // An item whose front the scanner could not read: parsed, and written the usual way.
        const item = raw.object as unknown as KubeObject;
        item.apiVersion ??= resource.groupVersion;
        item.kind ??= resource.kind;
        if (target.keep && !target.keep(item)) continue;
        const parsedHere = where(
          resource.namespaced ? item.metadata.namespace : undefined,
          item.metadata.name,
        );
        if (dedup.relisting && dedup.written.has(parsedHere)) continue;
        dedup.written.add(parsedHere);
        await write(resource, item);
        continue;
      }
      const namespace = resource.namespaced ? raw.namespace : undefined;
      if (target.keepIsNamespaces && !namespaces.has(namespace ?? '')) continue;
      // Only an item whose bytes name the label is parsed to see whether it is set.
      if (
        raw.bytes.includes(EXCLUDE_MARK) &&
        excluded(resource, JSON.parse(raw.bytes.toString()) as KubeObject)
      )
        continue;
      const here = where(namespace, raw.name);
      if (dedup.relisting && dedup.written.has(here)) continue;
      dedup.written.add(here);
      // The item's bytes after its opening brace, behind the apiVersion and kind.
      await archive.addItemBytes(
        {
          groupResource: resource.groupResource,
          ...(namespace ? { namespace } : {}),
          name: raw.name,
          version: resource.version,
          preferredVersion: resource.version,
        },
        [typeMeta, raw.bytes.subarray(1)],
      );
      names.push(where(namespace, raw.name));
      if (namespace) itemNamespaces.add(namespace);
    }
    if (remaining !== undefined) progress.totalItems += listed + remaining;
    if (names.length === 0) return;
    const listKey = `${resource.groupVersion}/${resource.kind}`;
    const list = resourceList.get(listKey) ?? [];
    if (list.length === 0) resourceList.set(listKey, list);
    for (const name of names) list.push(name);
    const before = progress.itemsBackedUp;
    progress.itemsBackedUp += names.length;
    progress.totalItems = Math.max(progress.totalItems, progress.itemsBackedUp);
    if (writing(resource) || Math.floor(before / 100) !== Math.floor(progress.itemsBackedUp / 100)) report();
  }

  /** Makes `resource` the one progress names; true when that changed it (worth a report). */
  function writing(resource: ApiResource): boolean {
    if (progress.currentResource === resource.groupResource) return false;
    progress.currentResource = resource.groupResource;
    return true;
  }

  /** Whether an item is left out by its exclude-from-backup label (said in the log). */
  function excluded(resource: ApiResource, item: KubeObject): boolean {
    const excludedBy = excludedFromBackupBy(item.metadata.labels);
    if (!excludedBy) return false;
    const namespace = resource.namespaced ? item.metadata.namespace : undefined;
    log({
      level: 'info',
      message: `left out ${resource.groupResource} ${where(namespace, item.metadata.name)}: it has the label ${excludedBy}=true`,
      resource: resource.groupResource,
      ...(namespace ? { namespace } : {}),
      name: item.metadata.name,
    });
    return true;
  }

  async function write(resource: ApiResource, item: KubeObject): Promise<void> {
    if (excluded(resource, item)) return;
    const namespace = resource.namespaced ? item.metadata.namespace : undefined;
    if (namespace) itemNamespaces.add(namespace);
    if (remembers(resource.groupResource)) {
      const id = itemKey(resource.groupResource, namespace, item.metadata.name);
      if (written.has(id)) return;
      written.add(id);
    }
    let result: ActionResult = { item, additionalItems: [] };
    try {
      if (anyActionApplies(resource.groupResource))
        result = await runItemActions(actions, item, {
          groupResource: resource.groupResource,
          isCustomResource: (gr) => customResources.has(gr),
        });
    } catch (error) {
      log({
        level: 'error',
        message: `an item action failed on ${resource.groupResource} ${where(namespace, item.metadata.name)}: ${(error as Error).message}`,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name: item.metadata.name,
      });
      return;
    }
    for (const message of result.warnings ?? [])
      log({
        level: 'warning',
        message,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name: item.metadata.name,
      });
    await archive.addItem({
      groupResource: resource.groupResource,
      ...(namespace ? { namespace } : {}),
      name: item.metadata.name,
      version: resource.version,
      preferredVersion: resource.version,
      object: result.item,
    });
    const listKey = `${resource.groupVersion}/${resource.kind}`;
    const names = resourceList.get(listKey) ?? [];
    if (names.length === 0) resourceList.set(listKey, names);
    names.push(where(namespace, item.metadata.name));
    related.push(...result.additionalItems);
    progress.itemsBackedUp++;
    progress.totalItems = Math.max(progress.totalItems, progress.itemsBackedUp);
    if (writing(resource) || progress.itemsBackedUp % 100 === 0) report();
  }

  // Custom resources are those a CRD defines: a CRD's name is exactly its group resource string.
  const customResources = new Set<string>();
  const crds = mapper.byGroupResource(CRDS);
  if (crds)
    await list({ resource: crds }, (crd) => Promise.resolve(void customResources.add(crd.metadata.name)));

  const namespacesResource = mapper.byGroupResource('namespaces');
  const namespaces = new Set<string>();
  // The Namespace objects of the selected namespaces, as read at the revision: which of them the backup
  // holds is known once the items are written (namespaceObjectsToWrite).
  const namespaceObjects: KubeObject[] = [];
  /** The namespaces of the items written (a parsed item's, or a raw one's). */
  const itemNamespaces = new Set<string>();
  if (namespacesResource) {
    await list({ resource: namespacesResource, unfiltered: true }, (ns) => {
      const excludedBy = excludedFromBackupBy(ns.metadata.labels);
      if (excludedBy && selection.namespaceSelected(ns.metadata.name)) {
        log({
          level: 'info',
          message: `left out namespace ${ns.metadata.name} and everything in it: it has the label ${excludedBy}=true`,
          namespace: ns.metadata.name,
        });
        return Promise.resolve();
      }
      if (selection.namespaceSelected(ns.metadata.name)) {
        namespaces.add(ns.metadata.name);
        namespaceObjects.push(ns);
      }
      return Promise.resolve();
    });
  }
  progress.totalItems = 0;

  // A few named namespaces are listed one by one; many, or all, with one cluster-wide list each.
  const perNamespace = !selection.allNamespaces && namespaces.size <= 10;
  const targets: ListTarget[] = [];
  const resources = [...selection.namespaced, ...selection.clusterScoped]
    .filter((r) => r.groupResource !== 'namespaces')
    .sort((a, b) => a.groupResource.localeCompare(b.groupResource));
  for (const resource of resources) {
    if (!resource.namespaced) targets.push({ resource });
    else if (perNamespace) for (const namespace of namespaces) targets.push({ resource, namespace });
    else
      targets.push({
        resource,
        keep: (item) => namespaces.has(item.metadata.namespace ?? ''),
        keepIsNamespaces: true,
      });
  }

  // Each list that contributed items is logged with its count and the revision it was read at.
  let emptyLists = 0;
  for (const target of targets) {
    signal?.throwIfAborted();
    const before = progress.itemsBackedUp;
    await list({ ...target, archived: true }, (item) => write(target.resource, item));
    const count = progress.itemsBackedUp - before;
    if (count === 0) {
      emptyLists++;
      continue;
    }
    const { groupResource } = target.resource;
    const at = bestEffort.has(groupResource)
      ? 'at its latest state (best effort)'
      : revision
        ? `at revision ${revision}`
        : 'at its latest state';
    log({
      level: 'info',
      message: `backed up ${count} ${groupResource}${target.namespace ? ` in namespace ${target.namespace}` : ''}, listed ${at}`,
      resource: groupResource,
      ...(target.namespace ? { namespace: target.namespace } : {}),
    });
  }
  log({
    level: 'info',
    message: `listed ${targets.length} resource lists (${emptyLists} with nothing for this backup); ${progress.itemsBackedUp} items so far, then related items`,
  });

  // Related items, fetched at the same revision until none is left (a pod's claim brings its volume).
  const skippedRelated = new Set<string>();
  for (let ref = related.shift(); ref !== undefined; ref = related.shift()) {
    signal?.throwIfAborted();
    const resource = mapper.byGroupResource(ref.groupResource);
    if (!resource || !selection.relatedAdmitted(resource)) {
      const skippedKey = itemKey(ref.groupResource, ref.namespace, ref.name);
      if (!skippedRelated.has(skippedKey)) {
        skippedRelated.add(skippedKey);
        log({
          level: 'info',
          message: `skipped related ${ref.groupResource} ${where(ref.namespace, ref.name)}: ${resource ? "the backup's filters leave it out" : 'the cluster does not serve that resource'}`,
          resource: ref.groupResource,
          ...(ref.namespace ? { namespace: ref.namespace } : {}),
          name: ref.name,
        });
      }
      continue;
    }
    const namespace = resource.namespaced ? ref.namespace : undefined;
    const key = itemKey(resource.groupResource, namespace, ref.name);
    if (written.has(key)) continue;
    let found = false;
    await list({ resource, namespace, name: ref.name }, (item) => {
      found = true;
      return write(resource, item);
    });
    // Listed once, whichever action names it again (even one that did not declare what it produces).
    written.add(key);
    if (!found) {
      log({
        level: 'warning',
        message: `related ${resource.groupResource} ${where(namespace, ref.name)} does not exist`,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name: ref.name,
      });
    }
  }

  // The Namespace objects last, once the namespaces holding items are known: a restore needs them to
  // recreate the namespaces, whatever the label selectors.
  if (namespacesResource && selection.includeNamespaceObjects && selection.namespaced.length > 0) {
    for (const ns of namespaceObjectsToWrite(namespaceObjects, selection, itemNamespaces))
      await write(namespacesResource, ns);
  }

  delete progress.currentResource;
  progress.totalItems = progress.itemsBackedUp;
  progress.final = true;
  report();
  const resourceListOut: Record<string, string[]> = {};
  for (const k of [...resourceList.keys()].sort()) resourceListOut[k] = (resourceList.get(k) ?? []).sort();
  return {
    phase: results.errorCount > 0 ? 'PartiallyFailed' : 'Completed',
    results,
    resourceList: resourceListOut,
    consistency: {
      mode: input.consistency,
      ...(revision ? { revision } : {}),
      bestEffortResources: [...bestEffort],
    },
    progress: { itemsBackedUp: progress.itemsBackedUp, totalItems: progress.totalItems },
  };
}

/**
 * Which Namespace objects a backup holds, among those of its selected namespaces (Velero's nsTracker,
 * pkg/backup/item_collector.go). Without a label selector: every selected namespace. With one: the
 * namespaces holding an item of the backup, the active namespaces whose own labels match a selector, and,
 * when includedNamespaces names namespaces, the active named ones, as Velero does. Unlike Velero, a
 * namespace the filters exclude never comes in through its labels, and excludedNamespaces alone (every
 * namespace but some) keeps only those holding items or matching, as when nothing is excluded (Velero
 * keeps every namespace then, kube-system included).
 */
export function namespaceObjectsToWrite(
  namespaces: readonly KubeObject[],
  selection: Pick<Selection, 'labelSelectors' | 'namespacesNamed'>,
  itemNamespaces: ReadonlySet<string>,
): KubeObject[] {
  const selectors = selection.labelSelectors
    .filter((s): s is string => s !== undefined)
    .map((s) => parseLabelSelector(s));
  if (selectors.length === 0) return [...namespaces];
  return namespaces.filter((ns) => {
    if (itemNamespaces.has(ns.metadata.name)) return true;
    const phase = (ns.status as { phase?: string } | undefined)?.phase;
    if (phase !== undefined && phase !== 'Active') return false;
    if (selection.namespacesNamed) return true;
    return selectors.some((selector) => matchesLabels(selector, ns.metadata.labels));
  });
}
