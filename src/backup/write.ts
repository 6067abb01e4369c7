// The item writer, the second half of the backup engine (Velero's item_backupper.go): takes the items
// the collector lists (collect.ts), leaves out duplicates and excluded items, runs the item actions,
// writes the items into the archive, and keeps the resource list and the progress. Items of resources
// no item action looks at may come as raw list pages, copied into the archive without being parsed.
import type { ArchiveWriter } from '../archive/index.ts';
import { rawListItems, type ApiResource, type KubeObject } from '../kube/index.ts';
import { runItemActions, type ActionResult, type ItemAction, type ItemRef } from './item-actions.ts';
import { excludedFromBackupBy } from './selection.ts';

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

/** How an item is named in the resource list and in messages: `namespace/name`, or `name`. */
export const where = (namespace: string | undefined, name: string) =>
  namespace ? `${namespace}/${name}` : name;

/**
 * The backup's one duplicate set: the items it has dealt with, by group resource, namespace and name, so
 * that each is handled once, be it an item both of two OR selectors match, one that a list listed anew
 * (after its revision expired mid-way) gives again, or a related item that several items name.
 */
export class DuplicateSet {
  readonly #keys = new Set<string>();

  /** Adds an item; false when it was in the set already. */
  add(groupResource: string, namespace: string | undefined, name: string): boolean {
    const key = `${groupResource}/${namespace ?? ''}/${name}`;
    if (this.#keys.has(key)) return false;
    this.#keys.add(key);
    return true;
  }

  has(groupResource: string, namespace: string | undefined, name: string): boolean {
    return this.#keys.has(`${groupResource}/${namespace ?? ''}/${name}`);
  }
}

/**
 * Velero's resource list: the names of the items written, by `group/version/Kind` (`v1/Pod`), each
 * resource there once it has an item.
 */
export class ResourceList {
  readonly #names = new Map<string, string[]>();

  /** The names of `resource`'s items, to add to: call it for an item being written. */
  of(resource: ApiResource): string[] {
    const key = `${resource.groupVersion}/${resource.kind}`;
    let names = this.#names.get(key);
    if (!names) {
      names = [];
      this.#names.set(key, names);
    }
    return names;
  }

  /** The list as stored: keys sorted, and the names of each. */
  sorted(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const key of [...this.#names.keys()].sort()) out[key] = (this.#names.get(key) ?? []).sort();
    return out;
  }
}

/** The items of one list on their way to the archive (ItemWriter.beginList). */
export interface ListScope {
  readonly resource: ApiResource;
  /** Items outside these namespaces are left out (a cluster-wide list of a namespaced resource). */
  readonly inNamespaces?: ReadonlySet<string> | undefined;
  /** The duplicate set this list's items are checked against and added to (ItemWriter.beginList). */
  readonly duplicates: DuplicateSet;
  /** `{"apiVersion":"...","kind":"...",`: the API server leaves them out of list items. */
  typeMeta?: Buffer;
}

export interface ItemWriterOptions {
  archive: Pick<ArchiveWriter, 'addItem' | 'addItemBytes'>;
  actions: readonly ItemAction[];
  /** The group resources that CustomResourceDefinitions define (for actions that apply to 'custom'). */
  customResources: ReadonlySet<string>;
  /** Whether items no item action looks at may be copied as the API server sent them (default true). */
  copyRawItems?: boolean | undefined;
  onProgress?: ((progress: BackupProgress) => void) | undefined;
  log: (entry: LogEntry) => void;
}

/** Every exclude-from-backup label ends so: a raw item without these bytes carries none. */
const EXCLUDE_MARK = Buffer.from('/exclude-from-backup');

export class ItemWriter {
  readonly duplicates = new DuplicateSet();
  /** The items that written items named (a pod's claims, a claim's volume), not yet followed. */
  readonly related: ItemRef[] = [];
  /** The namespaces of the items written. */
  readonly itemNamespaces = new Set<string>();
  readonly #options: ItemWriterOptions;
  readonly #resourceList = new ResourceList();
  readonly #progress: BackupProgress = { itemsBackedUp: 0, totalItems: 0, final: false };
  /** Whether any item action applies, by group resource. */
  readonly #actionsApplyTo = new Map<string, boolean>();
  /** The group resources of the items related items may name (the actions' `produces`); undefined: any. */
  readonly #relatable: ReadonlySet<string> | undefined;

  constructor(options: ItemWriterOptions) {
    this.#options = options;
    const { actions } = options;
    this.#relatable = actions.every((a) => a.produces !== undefined)
      ? new Set(actions.flatMap((a) => a.produces ?? []))
      : undefined;
  }

  get itemsBackedUp(): number {
    return this.#progress.itemsBackedUp;
  }

  /**
   * Starts a list of `resource` (a list lasts over its label selectors and over a relist). Items of a
   * resource that no related item can name (config maps and secrets: most of a big cluster) are checked
   * against a duplicate set of the list's own, dropped with it, so memory does not grow with them.
   */
  beginList(resource: ApiResource, inNamespaces?: ReadonlySet<string>): ListScope {
    const duplicates = this.#nameable(resource.groupResource) ? this.duplicates : new DuplicateSet();
    return { resource, inNamespaces, duplicates };
  }

  /**
   * Whether `resource`'s items may come as raw pages: no item action looks at them and no related item
   * may name them again.
   */
  takesRaw(resource: ApiResource): boolean {
    const gr = resource.groupResource;
    return this.#options.copyRawItems !== false && !this.#nameable(gr) && !this.#actionsApply(gr);
  }

  /** Adds to the items known (a list's announced length). */
  announce(count: number): void {
    this.#progress.totalItems += count;
  }

  /** Writes one parsed item of a list, unless it is a duplicate, excluded, or out of the list's namespaces. */
  async write(list: ListScope, item: KubeObject): Promise<void> {
    const { resource } = list;
    const { name } = item.metadata;
    if (list.inNamespaces && !list.inNamespaces.has(item.metadata.namespace ?? '')) return;
    const namespace = resource.namespaced ? item.metadata.namespace : undefined;
    if (!list.duplicates.add(resource.groupResource, namespace, name)) return;
    if (this.#excluded(resource, item)) return;
    if (namespace) this.itemNamespaces.add(namespace);
    let result: ActionResult = { item, additionalItems: [] };
    try {
      if (this.#actionsApply(resource.groupResource))
        result = await runItemActions(this.#options.actions, item, {
          groupResource: resource.groupResource,
          isCustomResource: (gr) => this.#options.customResources.has(gr),
        });
    } catch (error) {
      this.#options.log({
        level: 'error',
        message: `an item action failed on ${resource.groupResource} ${where(namespace, name)}: ${(error as Error).message}`,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name,
      });
      return;
    }
    for (const message of result.warnings ?? [])
      this.#options.log({
        level: 'warning',
        message,
        resource: resource.groupResource,
        ...(namespace ? { namespace } : {}),
        name,
      });
    await this.#options.archive.addItem({
      groupResource: resource.groupResource,
      ...(namespace ? { namespace } : {}),
      name,
      version: resource.version,
      preferredVersion: resource.version,
      object: result.item,
    });
    this.#resourceList.of(resource).push(where(namespace, name));
    this.related.push(...result.additionalItems);
    this.#counted(resource, 1);
  }

  /**
   * Copies a raw list page's items into the archive as the API server sent them, behind the apiVersion
   * and kind. `remaining` (the items of later pages) is given when the page announces the list's length.
   */
  async writeRawPage(list: ListScope, body: Buffer, remaining: number | undefined): Promise<void> {
    const { resource, inNamespaces } = list;
    const typeMeta = (list.typeMeta ??= Buffer.from(
      `{"apiVersion":${JSON.stringify(resource.groupVersion)},"kind":${JSON.stringify(resource.kind)},`,
    ));
    let listed = 0;
    let written = 0;
    let names: string[] | undefined;
    for (const raw of rawListItems(body)) {
      listed++;
      if ('object' in raw) {
        // An item whose front the scanner could not read: parsed, and written the usual way.
        const item = raw.object as unknown as KubeObject;
        item.apiVersion ??= resource.groupVersion;
        item.kind ??= resource.kind;
        await this.write(list, item);
        continue;
      }
      const namespace = resource.namespaced ? raw.namespace : undefined;
      if (inNamespaces && !inNamespaces.has(namespace ?? '')) continue;
      if (!list.duplicates.add(resource.groupResource, namespace, raw.name)) continue;
      // Only an item whose bytes name the label is parsed to see whether it is set.
      if (
        raw.bytes.includes(EXCLUDE_MARK) &&
        this.#excluded(resource, JSON.parse(raw.bytes.toString()) as KubeObject)
      )
        continue;
      // The item's bytes after its opening brace, behind the apiVersion and kind.
      await this.#options.archive.addItemBytes(
        {
          groupResource: resource.groupResource,
          ...(namespace ? { namespace } : {}),
          name: raw.name,
          version: resource.version,
          preferredVersion: resource.version,
        },
        [typeMeta, raw.bytes.subarray(1)],
      );
      (names ??= this.#resourceList.of(resource)).push(where(namespace, raw.name));
      written++;
      if (namespace) this.itemNamespaces.add(namespace);
    }
    if (remaining !== undefined) this.#progress.totalItems += listed + remaining;
    if (written > 0) this.#counted(resource, written);
  }

  /** Reports the final progress; the resource list and the counts, for the outcome. */
  finish(): {
    resourceList: Record<string, string[]>;
    progress: { itemsBackedUp: number; totalItems: number };
  } {
    const progress = this.#progress;
    delete progress.currentResource;
    progress.totalItems = progress.itemsBackedUp;
    progress.final = true;
    this.#report();
    return {
      resourceList: this.#resourceList.sorted(),
      progress: { itemsBackedUp: progress.itemsBackedUp, totalItems: progress.totalItems },
    };
  }

  /**
   * Counts `count` items of `resource` just written. Progress is reported when the resource changes and
   * at every hundredth item.
   */
  #counted(resource: ApiResource, count: number): void {
    const progress = this.#progress;
    const before = progress.itemsBackedUp;
    progress.itemsBackedUp += count;
    progress.totalItems = Math.max(progress.totalItems, progress.itemsBackedUp);
    const changed = progress.currentResource !== resource.groupResource;
    progress.currentResource = resource.groupResource;
    if (changed || Math.floor(before / 100) !== Math.floor(progress.itemsBackedUp / 100)) this.#report();
  }

  #report(): void {
    this.#options.onProgress?.({ ...this.#progress });
  }

  /** Whether a related item may name an item of `groupResource`. */
  #nameable(groupResource: string): boolean {
    return this.#relatable === undefined || this.#relatable.has(groupResource);
  }

  #actionsApply(groupResource: string): boolean {
    let applies = this.#actionsApplyTo.get(groupResource);
    if (applies === undefined) {
      applies = this.#options.actions.some((a) =>
        a.appliesTo === 'custom'
          ? this.#options.customResources.has(groupResource)
          : a.appliesTo.includes(groupResource),
      );
      this.#actionsApplyTo.set(groupResource, applies);
    }
    return applies;
  }

  /** Whether an item is left out by its exclude-from-backup label (said in the log). */
  #excluded(resource: ApiResource, item: KubeObject): boolean {
    const excludedBy = excludedFromBackupBy(item.metadata.labels);
    if (!excludedBy) return false;
    const namespace = resource.namespaced ? item.metadata.namespace : undefined;
    this.#options.log({
      level: 'info',
      message: `left out ${resource.groupResource} ${where(namespace, item.metadata.name)}: it has the label ${excludedBy}=true`,
      resource: resource.groupResource,
      ...(namespace ? { namespace } : {}),
      name: item.metadata.name,
    });
    return true;
  }
}
