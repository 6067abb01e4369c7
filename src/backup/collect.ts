// The item collector, the first half of the backup engine (Velero's item_collector.go): which resources
// and namespaces a backup lists, each list read page by page at the backup's storage revision (at its
// latest state, with a warning, where the revision cannot be served), and the related items that the
// written items name. The items go to the item writer (write.ts).
import { matchesLabels, parseLabelSelector } from '../api/index.ts';
import {
  isRevisionUnavailable,
  KubeApiError,
  listPages,
  listRawPages,
  type ApiResource,
  type KubeClient,
  type KubeObject,
  type ResourceMapper,
} from '../kube/index.ts';
import { excludedFromBackupBy, type Selection } from './selection.ts';
import { where, type ItemWriter, type LogEntry } from './write.ts';

/** What the collector's lists share for one backup. */
export interface Collector {
  client: KubeClient;
  mapper: ResourceMapper;
  selection: Selection;
  /** The storage revision the lists are read at; undefined: their latest state (best effort). */
  revision: string | undefined;
  /** Items per list page (default 500). */
  pageSize: number | undefined;
  signal: AbortSignal | undefined;
  log: (entry: LogEntry) => void;
  /** The resources listed at their latest state, their list at the revision having failed. */
  bestEffort: Set<string>;
}

export interface ListTarget {
  resource: ApiResource;
  namespace?: string | undefined;
  /** Only this object (related items): listed by field selector, without the label selectors. */
  name?: string | undefined;
  /** Listed without the backup's label selectors (namespaces: what the backup needs to know). */
  unfiltered?: boolean;
  /** Only the items in these namespaces (a cluster-wide list of a namespaced resource). */
  inNamespaces?: ReadonlySet<string> | undefined;
}

/** Where a list's items go: the item writer, or what the backup needs to know before it writes. */
interface ListSink {
  item(item: KubeObject): Promise<void> | void;
  /** Takes pages as the API server sent them, items unparsed: given where items may be copied raw. */
  rawPage?: ((body: Buffer, remaining: number | undefined) => Promise<void>) | undefined;
  /** Adds to the progress total: given only where every item of the list is written. */
  announce?: ((count: number) => void) | undefined;
}

const CRDS = 'customresourcedefinitions.apiextensions.k8s.io';

/** The label selectors a target is listed with, one list each (OR): none for a named object. */
function selectorsOf(target: ListTarget, selection: Selection): readonly (string | undefined)[] {
  return target.name === undefined && !target.unfiltered ? selection.labelSelectors : [undefined];
}

/**
 * Lists a target at the revision and hands every item to `sink`. A resource whose revision cannot be
 * served is listed again at its latest state, with a warning; the sink takes the items its first list
 * gave once (the writer by its duplicate set). List failures are per-resource errors, not exceptions.
 */
async function listItems(run: Collector, target: ListTarget, sink: ListSink): Promise<void> {
  const { resource } = target;
  let relisting = false;
  for (const labelSelector of selectorsOf(target, run.selection)) {
    for (;;) {
      const atRevision = run.bestEffort.has(resource.groupResource) ? undefined : run.revision;
      try {
        // A list listed again announces nothing: its first list did.
        await listPagesInto(
          run,
          { target, labelSelector, atRevision },
          relisting ? { ...sink, announce: undefined } : sink,
        );
        break;
      } catch (error) {
        if (atRevision !== undefined && isRevisionUnavailable(error)) {
          run.bestEffort.add(resource.groupResource);
          relisting = true;
          run.log({
            level: 'warning',
            message: `${resource.groupResource} cannot be listed at revision ${atRevision} (${(error as Error).message}); listed at its latest state instead`,
            resource: resource.groupResource,
          });
          continue;
        }
        if (!(error instanceof KubeApiError)) throw error;
        logListFailure(run, target, error);
        return;
      }
    }
  }
}

/** One list request, page by page, into `sink`. */
async function listPagesInto(
  run: Collector,
  request: { target: ListTarget; labelSelector: string | undefined; atRevision: string | undefined },
  sink: ListSink,
): Promise<void> {
  const { resource, namespace, name } = request.target;
  const options = {
    namespace,
    labelSelector: request.labelSelector,
    fieldSelector: name === undefined ? undefined : `metadata.name=${name}`,
    resourceVersion: request.atRevision,
    limit: run.pageSize,
    signal: run.signal,
  };
  const pages = sink.rawPage
    ? listRawPages(run.client, resource, options)
    : listPages(run.client, resource, options);
  // The list's length is announced by its pages until one that counts the items of the later ones
  // (the server counts when there are no selectors).
  let announced = sink.announce === undefined;
  for await (const page of pages) {
    const announce = !announced;
    announced ||= page.remainingItemCount !== undefined;
    if ('body' in page) {
      // Only listRawPages gives raw pages: the sink takes them. Their length is known once split.
      await sink.rawPage?.(page.body, announce ? (page.remainingItemCount ?? 0) : undefined);
      continue;
    }
    if (announce) sink.announce?.(page.items.length + (page.remainingItemCount ?? 0));
    for (const item of page.items) await sink.item(item);
  }
}

function logListFailure(run: Collector, target: ListTarget, error: KubeApiError): void {
  const { resource, namespace } = target;
  if (error.status === 404) {
    // The resource stopped being served during the backup (its CRD or API service went away).
    run.log({
      level: 'warning',
      message: `${resource.groupResource} is no longer served by the cluster; nothing of it was backed up`,
      resource: resource.groupResource,
    });
    return;
  }
  run.log({
    level: 'error',
    message: `cannot list ${resource.groupResource}${namespace ? ` in namespace ${namespace}` : ''}: ${error.message}`,
    resource: resource.groupResource,
    ...(namespace ? { namespace } : {}),
  });
}

/** A target's items into the writer, raw where its list may give them so. */
function intoWriter(run: Collector, writer: ItemWriter, target: ListTarget): ListSink {
  const list = writer.beginList(target.resource, target.inNamespaces);
  const selectors = selectorsOf(target, run.selection);
  const whole = target.name === undefined && target.inNamespaces === undefined;
  // Only a list by at most one label selector is copied raw; with several, the items are parsed and
  // encoded again (the same objects: copying them raw too would change those archives' bytes).
  const raw = target.name === undefined && selectors.length <= 1 && writer.takesRaw(target.resource);
  return {
    item: (item) => writer.write(list, item),
    rawPage: raw ? (body, remaining) => writer.writeRawPage(list, body, remaining) : undefined,
    // A list announces its length (progress) only when each of its items is written: one selector (an
    // item two selectors match would count twice), no name, and no filter on this side.
    announce: whole && selectors.length === 1 ? (count) => writer.announce(count) : undefined,
  };
}

/**
 * The custom resources: those a CustomResourceDefinition defines (a CRD's name is exactly its group
 * resource string).
 */
export async function listCustomResources(run: Collector): Promise<Set<string>> {
  const customResources = new Set<string>();
  const crds = run.mapper.byGroupResource(CRDS);
  if (crds)
    // Every definition, whatever the backup's label selectors: which resources are custom decides whether a
    // selected custom object brings its definition along, and the definition need not carry the label.
    await listItems(
      run,
      { resource: crds, unfiltered: true },
      { item: (crd) => void customResources.add(crd.metadata.name) },
    );
  return customResources;
}

export interface SelectedNamespaces {
  /** The namespaces resource; undefined when the cluster does not serve it. */
  resource: ApiResource | undefined;
  names: Set<string>;
  /**
   * Their Namespace objects, as read at the revision: which of them the backup holds is known once the
   * items are written (namespaceObjectsToWrite).
   */
  objects: KubeObject[];
}

/** The namespaces the backup selects, but for those left out whole by their exclude-from-backup label. */
export async function listSelectedNamespaces(run: Collector): Promise<SelectedNamespaces> {
  const { selection } = run;
  const resource = run.mapper.byGroupResource('namespaces');
  const selected: SelectedNamespaces = { resource, names: new Set(), objects: [] };
  if (!resource) return selected;
  await listItems(
    run,
    { resource, unfiltered: true },
    {
      item: (ns) => {
        const { name } = ns.metadata;
        // A namespace already taken was given again by a relist.
        if (!selection.namespaceSelected(name) || selected.names.has(name)) return;
        const excludedBy = excludedFromBackupBy(ns.metadata.labels);
        if (excludedBy) {
          run.log({
            level: 'info',
            message: `left out namespace ${name} and everything in it: it has the label ${excludedBy}=true`,
            namespace: name,
          });
          return;
        }
        selected.names.add(name);
        selected.objects.push(ns);
      },
    },
  );
  return selected;
}

/**
 * The lists of a backup, ordered by group resource: a few named namespaces are listed one by one; many,
 * or all, with one cluster-wide list of each resource, kept to the namespaces.
 */
export function backupTargets(
  selection: Pick<Selection, 'namespaced' | 'clusterScoped' | 'allNamespaces'>,
  namespaces: ReadonlySet<string>,
): ListTarget[] {
  const perNamespace = !selection.allNamespaces && namespaces.size <= 10;
  const targets: ListTarget[] = [];
  const resources = [...selection.namespaced, ...selection.clusterScoped]
    .filter((r) => r.groupResource !== 'namespaces')
    .sort((a, b) => a.groupResource.localeCompare(b.groupResource));
  for (const resource of resources) {
    if (!resource.namespaced) targets.push({ resource });
    else if (perNamespace) for (const namespace of namespaces) targets.push({ resource, namespace });
    else targets.push({ resource, inNamespaces: namespaces });
  }
  return targets;
}

/** Lists every target into the writer; each list that gave items is logged with its count and revision. */
export async function collectTargets(
  run: Collector,
  writer: ItemWriter,
  targets: readonly ListTarget[],
): Promise<void> {
  let emptyLists = 0;
  for (const target of targets) {
    run.signal?.throwIfAborted();
    const before = writer.itemsBackedUp;
    await listItems(run, target, intoWriter(run, writer, target));
    const count = writer.itemsBackedUp - before;
    if (count === 0) {
      emptyLists++;
      continue;
    }
    const { groupResource } = target.resource;
    const at = run.bestEffort.has(groupResource)
      ? 'at its latest state (best effort)'
      : run.revision
        ? `at revision ${run.revision}`
        : 'at its latest state';
    run.log({
      level: 'info',
      message: `backed up ${count} ${groupResource}${target.namespace ? ` in namespace ${target.namespace}` : ''}, listed ${at}`,
      resource: groupResource,
      ...(target.namespace ? { namespace: target.namespace } : {}),
    });
  }
  run.log({
    level: 'info',
    message: `listed ${targets.length} resource lists (${emptyLists} with nothing for this backup); ${writer.itemsBackedUp} items so far, then related items`,
  });
}

/**
 * The related items the written items name, fetched at the same revision until none is left (a pod's
 * claim brings its volume); each listed once, whichever items name it, and said once when left out.
 */
export async function collectRelated(run: Collector, writer: ItemWriter): Promise<void> {
  const { duplicates } = writer;
  for (let ref = writer.related.shift(); ref !== undefined; ref = writer.related.shift()) {
    run.signal?.throwIfAborted();
    const resource = run.mapper.byGroupResource(ref.groupResource);
    if (!resource || !run.selection.relatedAdmitted(resource)) {
      if (duplicates.add(ref.groupResource, ref.namespace, ref.name))
        run.log({
          level: 'info',
          message: `skipped related ${ref.groupResource} ${where(ref.namespace, ref.name)}: ${resource ? "the backup's filters leave it out" : 'the cluster does not serve that resource'}`,
          resource: ref.groupResource,
          ...(ref.namespace ? { namespace: ref.namespace } : {}),
          name: ref.name,
        });
      continue;
    }
    const namespace = resource.namespaced ? ref.namespace : undefined;
    if (duplicates.has(resource.groupResource, namespace, ref.name)) continue;
    const target = { resource, namespace, name: ref.name };
    const sink = intoWriter(run, writer, target);
    let found = false;
    await listItems(run, target, {
      item: (item) => {
        found = true;
        return sink.item(item);
      },
    });
    // Listed once, whichever action names it again (even one that did not declare what it produces).
    duplicates.add(resource.groupResource, namespace, ref.name);
    if (!found) {
      run.log({
        level: 'warning',
        message: `related ${resource.groupResource} ${where(namespace, ref.name)} does not exist`,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name: ref.name,
      });
    }
  }
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
