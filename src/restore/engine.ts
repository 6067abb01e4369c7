// The restore engine: applies a backup's extracted contents to a cluster in restore order, stage by stage
// (order.ts's restoreStages): a prioritized resource waits for the one before it, the resources that
// depend on none of each other are restored side by side, and `concurrency` bounds the items in flight in
// all. Each item is applied with the conflict policy of its scope. With dryRun it computes the same
// decisions against the live cluster and changes nothing. It knows nothing of locations, the CLI or
// controllers: it takes plain values, reports progress through a callback, and returns every per-item
// outcome as data (docs/restore.md).
//
// Its parts: scope.ts settles what is restored; namespaces.ts makes the target namespaces; item.ts
// restores one item (skip.ts, desired.ts, then decide.ts's decision carried out by apply.ts);
// definitions.ts waits for restored definitions to be served. context.ts holds what they share, and
// recorder.ts the outcome.
import type { ApiResource } from '../kube/index.ts';
import type { ContentItem } from './contents.ts';
import { message, RestoreContext } from './context.ts';
import { awaitDefinitions } from './definitions.ts';
import { ItemRestorer, type ItemTask } from './item.ts';
import { TargetNamespaces } from './namespaces.ts';
import { restoreStages } from './order.ts';
import { forEachBounded } from './pool.ts';
import { Recorder, where } from './recorder.ts';
import { CRDS, NAMESPACES, RestoreScope } from './scope.ts';
import type { RestoreEngineInput, RestoreOutcome } from './types.ts';

export type {
  ItemOutcome,
  PlanEntry,
  RestoreEngineInput,
  RestoreLogEntry,
  RestoreOutcome,
  RestoreProgress,
} from './types.ts';

export async function runRestoreEngine(input: RestoreEngineInput): Promise<RestoreOutcome> {
  const recorder = new Recorder(input);
  const ctx = new RestoreContext(input, recorder);
  const scope = await RestoreScope.of(input);
  recorder.progress.totalItems = scope.totalItems;
  recorder.report();
  const namespaces = new TargetNamespaces(ctx, scope);
  let failure: string | undefined;
  try {
    // delete-and-restore: the target namespaces go first, and the restore waits until they are gone.
    if (input.namespacedPolicy === 'delete-and-restore') await namespaces.deleteFirst();
    const stages = new Stages(ctx, scope, namespaces);
    for (const stage of restoreStages(scope.order, input.priorities)) await stages.restore(stage);
  } catch (error) {
    failure = input.signal?.aborted ? `aborted: ${message(input.signal.reason)}` : message(error);
    ctx.log({ level: 'error', message: `the restore stopped: ${failure}` });
  }
  return recorder.finish(failure, input.dryRun);
}

/** A resource as the restore starts on it: the version its items are read and applied as, or why none. */
interface Started {
  gr: string;
  target: { resource: ApiResource } | { problem: string };
  /** The resource's items the restore takes, in the backup's order. */
  items: AsyncIterable<ContentItem>;
  /** Its place in restore order (the plan's). */
  rank: number;
}

/** Restores the stages of a restore, one at a time, with what they share. */
class Stages {
  private readonly ctx: RestoreContext;
  private readonly scope: RestoreScope;
  private readonly namespaces: TargetNamespaces;
  private readonly items: ItemRestorer;
  /** The definitions' resource, once the restore has started on it. */
  private definitions: ApiResource | undefined;

  constructor(ctx: RestoreContext, scope: RestoreScope, namespaces: TargetNamespaces) {
    this.ctx = ctx;
    this.scope = scope;
    this.namespaces = namespaces;
    this.items = new ItemRestorer(ctx, scope, namespaces);
  }

  /**
   * Restores the resources of one stage: their items, resource after resource, through one pool of
   * `concurrency`, so that a resource's items start while the previous one's are still in flight.
   */
  async restore(stage: readonly string[]): Promise<void> {
    const { ctx } = this;
    if (stage.length === 1 && stage[0] === NAMESPACES) {
      const started = this.start(NAMESPACES);
      // Namespace objects are created through the namespaces' ensure, so each target is created once.
      if (started) await this.namespaces.restore(started.items);
      return;
    }
    await forEachBounded(
      this.tasks(stage),
      ctx.input.concurrency,
      (task) => this.items.restore(task),
      ctx.signal,
    );
    const names = this.items.definitions.splice(0);
    if (this.definitions && names.length > 0) await awaitDefinitions(ctx, this.definitions, names);
  }

  /** The items of a stage's resources, resource after resource. */
  private async *tasks(stage: readonly string[]): AsyncGenerator<ItemTask> {
    for (const gr of stage) {
      const started = this.start(gr);
      if (!started) continue;
      const { target, items, rank } = started;
      if ('problem' in target) {
        await this.unserved(started, target.problem);
        continue;
      }
      if (gr === CRDS) this.definitions = target.resource;
      let index = 0;
      for await (const item of items)
        yield { gr, resource: target.resource, item, position: { rank, index: index++ } };
    }
  }

  /** Starts on a resource, or undefined when it has nothing to restore. */
  private start(gr: string): Started | undefined {
    const { ctx, scope } = this;
    const { contents, signal } = ctx.input;
    ctx.signal?.throwIfAborted();
    const backedUp = contents.resources.get(gr);
    if (!backedUp) return undefined;
    if (!backedUp.namespaced && gr !== NAMESPACES && !backedUp.count) return undefined;
    ctx.recorder.progress.currentResource = gr;
    ctx.recorder.report();
    const target = targetResource(ctx, gr);
    const version = 'resource' in target ? target.version : backedUp.preferredVersion;
    ctx.log({
      level: 'info',
      message: `${ctx.dryRun ? 'planning' : 'restoring'} ${gr} (${backedUp.count} in the backup, as version ${version})`,
    });
    const items = async function* () {
      for await (const item of contents.items(gr, version, signal ? { signal } : {}))
        if (scope.takes(gr, item)) yield item;
    };
    return { gr, target, items: items(), rank: scope.order.indexOf(gr) };
  }

  /**
   * Records the items of a resource the target cluster does not serve: failed, or in a dry run, created
   * once the backup's definition of it is restored.
   */
  private async unserved({ gr, items, rank }: Started, problem: string): Promise<void> {
    const { ctx } = this;
    const pending = ctx.dryRun && gr !== CRDS && this.scope.definitionRestored(gr);
    let index = 0;
    for await (const item of items) {
      const namespace =
        item.namespace === undefined ? undefined : ctx.input.selection.targetNamespace(item.namespace);
      const entry = {
        groupResource: gr,
        ...(namespace !== undefined ? { namespace } : {}),
        name: item.name,
      };
      const position = { rank, index: index++ };
      const listKey = `${item.object.apiVersion}/${item.object.kind}`;
      if (pending) {
        ctx.recorder.record(
          { ...entry, outcome: 'created', reason: 'after its definition is restored' },
          position,
          listKey,
        );
        continue;
      }
      ctx.log({
        level: 'error',
        message: `${gr} ${where(namespace, item.name)}: ${problem}`,
        ...(namespace ? { namespace } : {}),
      });
      ctx.recorder.record({ ...entry, outcome: 'failed', reason: problem }, position, listKey);
    }
  }
}

/** Which target resource (served version) an item of `gr` is applied as, or why it cannot be. */
function targetResource(
  ctx: RestoreContext,
  gr: string,
): { resource: ApiResource; version: string } | { problem: string } {
  const backupVersions = ctx.input.contents.resources.get(gr)?.versions ?? [];
  const served = ctx.mapper.versionsOf(gr);
  for (const version of backupVersions) {
    const match = served.find((r) => r.version === version);
    if (match) return { resource: match, version };
  }
  if (served.length === 0) return { problem: `the target cluster does not serve ${gr}` };
  return {
    problem: `the target cluster serves ${gr} in ${served.map((r) => r.version).join(', ')}, and the backup has it in ${backupVersions.join(', ')} only`,
  };
}
