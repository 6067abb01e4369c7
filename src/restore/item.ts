// Restoring one item of a resource: whether it is restored at all (skip.ts), its target namespace made
// first (namespaces.ts), the object to apply (desired.ts), then applied or, in a dry run, planned
// (apply.ts). Every outcome is recorded; nothing but an abort or a broken connection throws.
import type { ApiResource } from '../kube/index.ts';
import { ItemExecutor, ItemReport } from './apply.ts';
import type { ContentItem } from './contents.ts';
import type { RestoreContext } from './context.ts';
import { desiredObject, type PodWork } from './desired.ts';
import type { TargetNamespaces } from './namespaces.ts';
import { rbacEscalations } from './permissions.ts';
import type { PlanPosition } from './recorder.ts';
import { CLUSTER_ROLES, clusterRoleKeptByTarget } from './related.ts';
import { CRDS, type RestoreScope } from './scope.ts';
import { skipReason } from './skip.ts';

/** One item to restore, as the engine hands it over. */
export interface ItemTask {
  gr: string;
  /** The served version the item is applied as. */
  resource: ApiResource;
  item: ContentItem;
  position: PlanPosition;
}

export class ItemRestorer {
  /** The definitions created or found live, to wait for before their custom objects (definitions.ts). */
  readonly definitions: string[] = [];
  private readonly ctx: RestoreContext;
  private readonly scope: RestoreScope;
  private readonly namespaces: TargetNamespaces;

  constructor(ctx: RestoreContext, scope: RestoreScope, namespaces: TargetNamespaces) {
    this.ctx = ctx;
    this.scope = scope;
    this.namespaces = namespaces;
  }

  async restore({ gr, resource, item, position }: ItemTask): Promise<void> {
    const { ctx, scope } = this;
    const { input } = ctx;
    const targetNamespace =
      item.namespace === undefined ? undefined : input.selection.targetNamespace(item.namespace);
    const report = new ItemReport(
      ctx,
      { gr, resource, namespace: targetNamespace, name: item.name },
      position,
    );
    const pod = this.podWork(gr, item);
    const skipped = skipReason(gr, item, {
      volumesFromSnapshots: input.claimSnapshots?.volumes ?? new Set(),
      movedVolumes: input.movedVolumes ?? new Set(),
      reprovisioned: scope.reprovisioned,
      clusterRolesInFull: input.selection.clusterResourceInFull(CLUSTER_ROLES),
      owners: scope.owners,
      podHasWork: pod.volumes.length > 0 || pod.hooks !== undefined,
    });
    if (skipped) return report.record('skipped', { reason: skipped });
    // Asked before anything is read or made for the item: what its creator may not write, the restore
    // neither writes nor looks at (a dry run's plan would show live objects' differences).
    const refused = await ctx.refusal({
      verb: 'create',
      group: resource.group,
      resource: resource.resource,
      namespace: targetNamespace,
    });
    if (refused) return report.fail(refused);
    // A backup is a copy of its source: what the creator could not read there (another team's Secrets),
    // mapping it into a namespace of theirs must not let them read either.
    const unreadable = await ctx.refusal({
      verb: 'get',
      group: resource.group,
      resource: resource.resource,
      namespace: item.namespace,
    });
    if (unreadable) return report.fail(unreadable);

    if (targetNamespace !== undefined) {
      const problem = await this.namespaces.ensure(targetNamespace);
      if (problem) return report.fail(problem);
    }
    const desired = await desiredObject(ctx, {
      gr,
      resource,
      item,
      targetNamespace,
      pod,
      reprovisioned: scope.reprovisioned,
    });
    if ('problem' in desired) return report.fail(desired.problem);
    // Asked of the object as it would be written: a transformation rule may have changed its roleRef.
    for (const request of rbacEscalations(gr, desired.object, targetNamespace)) {
      const escalates = await ctx.refusal(request);
      if (escalates) return report.fail(escalates);
    }
    const executor = new ItemExecutor(ctx, {
      gr,
      resource,
      targetNamespace,
      desired,
      // Restored in full, a built-in or aggregated ClusterRole is created only where it is missing.
      keptByTarget: gr === CLUSTER_ROLES ? clusterRoleKeptByTarget(item.object) : undefined,
      report,
    });
    if (ctx.dryRun)
      return executor.plan(targetNamespace !== undefined && this.namespaces.isNew(targetNamespace));
    if ((await executor.apply()) && gr === CRDS) this.definitions.push(desired.object.metadata.name);
  }

  private podWork(gr: string, item: ContentItem): PodWork {
    const { input } = this.ctx;
    if (gr !== 'pods' || item.namespace === undefined) return { volumes: [], hooks: undefined };
    return {
      volumes: input.podVolumes?.volumesOf(item.namespace, item.name) ?? [],
      hooks: input.podHooks?.(item.object, item.namespace),
    };
  }
}
