// The target namespaces: each made once, from its backed-up Namespace object when there is one, before
// the first object restored into it; with delete-and-restore, deleted first and waited on until gone.
import { collectionPath, KubeApiError, type KubeObject } from '../kube/index.ts';
import type { ContentItem } from './contents.ts';
import { message, type RestoreContext } from './context.ts';
import { forEachBounded } from './pool.ts';
import { BEFORE_EVERYTHING, type PlanPosition } from './recorder.ts';
import { NAMESPACES, type RestoreScope } from './scope.ts';
import { prepareForRestore } from './transform.ts';

const LIST_KEY = 'v1/Namespace';

export class TargetNamespaces {
  /** In a dry run: the namespaces the restore would create. */
  private readonly willExist = new Set<string>();
  /** delete-and-restore: the namespaces deleted before the restore. */
  private readonly deleting = new Set<string>();
  /** The backed-up Namespace objects, by target name. */
  private readonly objects = new Map<string, KubeObject>();
  private readonly ready = new Map<string, Promise<string | undefined>>();
  private readonly ctx: RestoreContext;
  private readonly scope: RestoreScope;
  /** Where the namespaces made go in the plan: with the Namespace objects' resource. */
  private readonly position: PlanPosition;

  constructor(ctx: RestoreContext, scope: RestoreScope) {
    this.ctx = ctx;
    this.scope = scope;
    this.position = { rank: scope.order.indexOf(NAMESPACES), index: 0 };
  }

  private get targets(): string[] {
    return [...this.scope.sourceNamespaces].map((ns) => this.ctx.input.selection.targetNamespace(ns));
  }

  /** In a dry run: whether a namespace is not there yet (to be created, or deleted first). */
  isNew(target: string): boolean {
    return this.willExist.has(target) || this.deleting.has(target);
  }

  /** delete-and-restore: deletes the target namespaces that exist, and waits until they are gone. */
  async deleteFirst(): Promise<void> {
    const { ctx } = this;
    const resource = ctx.mapper.byGroupResource(NAMESPACES);
    if (!resource) return;
    const existing: string[] = [];
    for (const target of this.targets)
      if (await ctx.readLive(resource, undefined, target)) existing.push(target);
    // Before any is deleted: a restore that may not replace every namespace it names replaces none.
    for (const target of existing) {
      const refused = await ctx.refusal({ verb: 'delete', group: '', resource: 'namespaces', name: target });
      if (refused) throw new Error(`${refused}; nothing was restored`);
    }
    for (const target of existing) {
      this.deleting.add(target);
      ctx.recorder.record(
        { outcome: 'deleted', groupResource: NAMESPACES, name: target, reason: 'delete-and-restore' },
        { rank: BEFORE_EVERYTHING, index: this.deleting.size },
      );
      ctx.log({
        level: 'info',
        message: `deleting namespace ${target} before restoring it (delete-and-restore)`,
      });
      if (ctx.dryRun) continue;
      try {
        await ctx.client.json({
          method: 'DELETE',
          path: `${collectionPath(resource)}/${target}`,
          signal: ctx.signal,
        });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
    }
    if (ctx.dryRun) return;
    const deadline = ctx.deadline(ctx.input.timeoutsMs?.namespaceDeleted ?? 300_000);
    for (const target of this.deleting) {
      const gone = async () => !(await ctx.readLive(resource, undefined, target));
      if (!(await ctx.waitUntil(gone, deadline, 250)))
        throw new Error(
          `namespace ${target} was not deleted in time (delete-and-restore); nothing was restored`,
        );
    }
  }

  /** Restores the target namespaces, from the backed-up Namespace objects among `items`. */
  async restore(items: AsyncIterable<ContentItem>): Promise<void> {
    const { ctx } = this;
    for await (const item of items) {
      const target = ctx.input.selection.targetNamespace(item.name);
      this.objects.set(target, prepareForRestore(NAMESPACES, item.object, ctx.input.transform).object);
    }
    await forEachBounded(
      this.targets,
      ctx.input.concurrency,
      async (target) => {
        const problem = await this.ensure(target);
        if (problem) ctx.log({ level: 'error', message: problem, namespace: target });
      },
      ctx.signal,
    );
  }

  /** Makes sure a target namespace exists and is usable; resolves with a problem, or undefined. */
  ensure(target: string): Promise<string | undefined> {
    let ready = this.ready.get(target);
    if (!ready) {
      ready = this.make(target);
      this.ready.set(target, ready);
    }
    return ready;
  }

  private async make(target: string): Promise<string | undefined> {
    const { ctx } = this;
    const resource = ctx.mapper.byGroupResource(NAMESPACES);
    if (!resource) return 'the cluster serves no namespaces';
    if (this.willExist.has(target)) return undefined;
    // A creator who may not create namespaces restores only into namespaces that exist.
    const refused = await ctx.refusal({ verb: 'create', group: '', resource: 'namespaces' });
    if (refused) {
      const live = this.deleting.has(target) ? undefined : await ctx.readLive(resource, undefined, target);
      return live ? this.existing(target, live) : `cannot create namespace ${target}: ${refused}`;
    }
    if (ctx.dryRun) {
      const live = this.deleting.has(target) ? undefined : await ctx.readLive(resource, undefined, target);
      if (live) return this.existing(target, live);
      this.willExist.add(target);
      this.created(target);
      return undefined;
    }
    const object: KubeObject = this.objects.get(target) ?? {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: target, labels: { ...ctx.input.transform.restoreLabels } },
    };
    // Create first; only a namespace that exists already costs a read.
    try {
      await ctx.client.json({
        method: 'POST',
        path: collectionPath(resource),
        body: object,
        signal: ctx.signal,
      });
      this.created(target);
      return undefined;
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409))
        return `cannot create namespace ${target}: ${message(error)}`;
    }
    const live = await ctx.readLive(resource, undefined, target);
    return live
      ? this.existing(target, live)
      : `namespace ${target} exists and then does not: it was deleted meanwhile`;
  }

  private created(target: string): void {
    this.ctx.recorder.record(
      {
        outcome: 'created',
        groupResource: NAMESPACES,
        name: target,
        reason: 'the namespace of restored objects',
      },
      this.position,
      LIST_KEY,
    );
  }

  /** What to say of a namespace that exists: usable, or being deleted. */
  private existing(target: string, live: KubeObject): string | undefined {
    if ((live.status as { phase?: string } | undefined)?.phase === 'Terminating')
      return `namespace ${target} is being deleted (Terminating); restore once it is gone, or map into another namespace`;
    this.ctx.recorder.record(
      { outcome: 'unchanged', groupResource: NAMESPACES, name: target, reason: 'the namespace exists' },
      this.position,
      LIST_KEY,
    );
    return undefined;
  }
}
