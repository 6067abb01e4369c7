// What a restore takes from the backup, settled before anything is applied: the resources in restore
// order, the backed-up namespaces, the cluster-scoped items that come along as related to restored ones,
// the workload controllers whose pods and replica sets are left to them, and the volumes provisioned anew.
import type { ContentItem } from './contents.ts';
import { restoreOrder } from './order.ts';
import { NAMING_RELATED, PVS, RELATED_KINDS, relatedItems, type RelatedItem } from './related.ts';
import { ownerKey, WORKLOAD_CONTROLLERS } from './skip.ts';
import type { RestoreEngineInput } from './types.ts';

export const CRDS = 'customresourcedefinitions.apiextensions.k8s.io';
export const NAMESPACES = 'namespaces';

type ScopeInput = Pick<
  RestoreEngineInput,
  'contents' | 'selection' | 'transform' | 'priorities' | 'movedVolumes' | 'signal'
>;

export class RestoreScope {
  /** The resources considered, in restore order. */
  readonly order: readonly string[];
  /** The backed-up namespaces restored. */
  readonly sourceNamespaces = new Set<string>();
  /** The workload controllers restored (ownerKey): what they control is left to them. */
  readonly owners = new Set<string>();
  /**
   * Volumes not restored because their storage went with their claim (reclaim policy Delete) or their
   * data was moved into the repository: their claims are provisioned anew.
   */
  readonly reprovisioned = new Set<string>();
  private readonly input: ScopeInput;
  /** Resources with items restored: the definitions that come along with their custom objects. */
  private readonly restoredResources: ReadonlySet<string>;
  /** Related cluster-scoped items (related.ts), by group resource. */
  private readonly related = new Map<string, Set<string>>();

  /** Reads the backup's items that name others (claims, bindings, controllers) to settle the scope. */
  static async of(input: ScopeInput): Promise<RestoreScope> {
    const scope = new RestoreScope(input);
    await scope.collectRelated();
    await scope.collectVolumes();
    return scope;
  }

  private constructor(input: ScopeInput) {
    this.input = input;
    const { contents, selection } = input;
    // A resource's items are considered when it is selected and, for cluster-scoped ones, restored in
    // full or related to restored items. Volumes, storage classes, cluster roles and definitions also
    // come along as related items when only what needs them was asked for (unless excluded, out of the
    // cluster-resource scope, or cluster-scoped objects are off).
    this.order = restoreOrder(contents.resources.keys(), input.priorities).filter(
      (gr) =>
        selection.resourceSelected(gr) ||
        ((RELATED_KINDS.has(gr) || gr === CRDS) && selection.relatedAdmitted(gr)),
    );
    for (const gr of this.order) {
      const resource = contents.resources.get(gr);
      if (!resource?.namespaced) continue;
      for (const ns of resource.namespaces)
        if (selection.namespaceSelected(ns)) this.sourceNamespaces.add(ns);
    }
    this.restoredResources = new Set(this.order.filter((gr) => this.hasItemsFor(gr)));
  }

  /** Whether any of the resource's items can be restored (in a restored namespace, or restored in full). */
  private hasItemsFor(gr: string): boolean {
    const resource = this.input.contents.resources.get(gr);
    if (!resource) return false;
    if (resource.namespaced) return [...resource.namespaces].some((ns) => this.sourceNamespaces.has(ns));
    return this.input.selection.clusterResourceInFull(gr);
  }

  /** The items the progress counts on. */
  get totalItems(): number {
    let total = 0;
    for (const gr of this.order) {
      const resource = this.input.contents.resources.get(gr);
      if (!resource) continue;
      if (!resource.namespaced || [...resource.namespaces].some((ns) => this.sourceNamespaces.has(ns)))
        total += resource.count;
    }
    return total;
  }

  /** Whether the selection takes an item of `gr` (the Namespace objects: those of restored namespaces). */
  takes(gr: string, item: ContentItem): boolean {
    if (gr === NAMESPACES) return this.sourceNamespaces.has(item.name);
    if (item.namespace === undefined)
      return (
        this.clusterItemSelected(gr, item.name) &&
        this.input.selection.labelsSelected(item.object.metadata.labels)
      );
    return this.namespacedItemSelected(item);
  }

  /** In a dry run: whether the backup restores the definition of this (not yet served) resource. */
  definitionRestored(gr: string): boolean {
    return this.input.contents.resources.has(CRDS) && this.clusterItemSelected(CRDS, gr);
  }

  private namespacedItemSelected(item: ContentItem): boolean {
    const { selection } = this.input;
    if (item.namespace !== undefined && !selection.namespaceSelected(item.namespace)) return false;
    return selection.labelsSelected(item.object.metadata.labels);
  }

  private clusterItemSelected(gr: string, name: string): boolean {
    const { selection } = this.input;
    if (selection.clusterResourceInFull(gr)) return true;
    if (!selection.relatedAdmitted(gr)) return false;
    if (gr === CRDS) return this.restoredResources.has(name);
    return this.related.get(gr)?.has(name) ?? false;
  }

  private relate(items: readonly RelatedItem[]): void {
    for (const { groupResource, name } of items) {
      const names = this.related.get(groupResource) ?? new Set<string>();
      if (!this.related.has(groupResource)) this.related.set(groupResource, names);
      names.add(name);
    }
  }

  /** The cluster-scoped items restored items name, and the workload controllers restored. */
  private async collectRelated(): Promise<void> {
    const { contents, signal, transform } = this.input;
    for (const gr of this.order) {
      const resource = contents.resources.get(gr);
      const names = NAMING_RELATED.has(gr);
      const controls = WORKLOAD_CONTROLLERS.has(gr);
      if (!resource?.namespaced || (!names && !controls)) continue;
      for await (const item of contents.items(gr, resource.preferredVersion, signal ? { signal } : {})) {
        if (!this.namespacedItemSelected(item)) continue;
        if (names) this.relate(relatedItems(gr, item.object, transform));
        if (controls) this.owners.add(ownerKey(item.object.kind, item.namespace, item.name));
      }
    }
  }

  /**
   * Volumes whose reclaim policy is Delete: their storage went with their claim, so (without volume data
   * in the backup) the volume is not restored and the claim is provisioned anew, as Velero does. The
   * volumes that are restored name their storage classes in turn.
   */
  private async collectVolumes(): Promise<void> {
    const { contents, signal, selection, transform, movedVolumes } = this.input;
    const volumes = contents.resources.get(PVS);
    if (!volumes) return;
    for await (const item of contents.items(PVS, volumes.preferredVersion, signal ? { signal } : {})) {
      const policy = (item.object.spec as { persistentVolumeReclaimPolicy?: string } | undefined)
        ?.persistentVolumeReclaimPolicy;
      if (policy === 'Delete' || movedVolumes?.has(item.name)) this.reprovisioned.add(item.name);
      else if (
        this.order.includes(PVS) &&
        this.clusterItemSelected(PVS, item.name) &&
        selection.labelsSelected(item.object.metadata.labels)
      )
        this.relate(relatedItems(PVS, item.object, transform));
    }
  }
}
