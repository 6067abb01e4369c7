// Carrying out what the restore decided for one item (decide.ts, a pure decision on the live and the
// desired object): the requests that create, update, or delete and create again, and that restore the
// status; in a dry run, the same requests as the API server's dry runs, which validate without storing.
import { collectionPath, KubeApiError, type ApiResource, type KubeObject } from '../kube/index.ts';
import { message, type RestoreContext } from './context.ts';
import { decide, type ConflictPolicy, type Decision } from './decide.ts';
import type { Desired } from './desired.ts';
import { formatDiff, type DiffEntry } from './diff.ts';
import { where, type PlanPosition } from './recorder.ts';
import type { ItemOutcome, PlanEntry } from './types.ts';

/** How one item's outcome is recorded and, when it fails, logged. */
export class ItemReport {
  /** The item as messages name it: "configmaps shop/settings". */
  readonly what: string;
  private readonly ctx: RestoreContext;
  private readonly base: PlanEntry;
  private readonly position: PlanPosition;
  private readonly listKey: string;

  constructor(
    ctx: RestoreContext,
    item: { gr: string; resource: ApiResource; namespace: string | undefined; name: string },
    position: PlanPosition,
  ) {
    this.ctx = ctx;
    this.position = position;
    this.listKey = `${item.resource.groupVersion}/${item.resource.kind}`;
    this.base = {
      outcome: 'failed',
      groupResource: item.gr,
      ...(item.namespace !== undefined ? { namespace: item.namespace } : {}),
      name: item.name,
    };
    this.what = `${item.gr} ${where(item.namespace, item.name)}`;
  }

  /** The namespace of log lines about the item. */
  get inNamespace(): { namespace?: string } {
    return this.base.namespace !== undefined ? { namespace: this.base.namespace } : {};
  }

  record(outcome: ItemOutcome, extra: Partial<PlanEntry> = {}): void {
    this.ctx.recorder.record({ ...this.base, outcome, ...extra }, this.position, this.listKey);
  }

  /** Records the item as failed, with the first line of `reason`; the log has it all. */
  fail(reason: string, diff?: DiffEntry[]): void {
    this.ctx.log({ level: 'error', message: `${this.what}: ${reason}`, ...this.inNamespace });
    const first = reason.split('\n')[0] ?? reason;
    this.record('failed', { reason: first, ...(diff ? { diff } : {}) });
  }
}

export interface Application {
  gr: string;
  resource: ApiResource;
  targetNamespace: string | undefined;
  desired: Desired;
  /** The target cluster's own is kept (a built-in cluster role: related.ts), and why. */
  keptByTarget: string | undefined;
  report: ItemReport;
}

/** Applies one desired object; in a dry run, plans it. */
export class ItemExecutor {
  private readonly ctx: RestoreContext;
  private readonly app: Application;
  private readonly object: KubeObject;
  private readonly path: string;
  private readonly itemPath: string;
  private readonly policy: ConflictPolicy;

  constructor(ctx: RestoreContext, app: Application) {
    this.ctx = ctx;
    this.app = app;
    this.object = app.desired.object;
    this.path = collectionPath(app.resource, app.targetNamespace);
    this.itemPath = `${this.path}/${encodeURIComponent(this.object.metadata.name)}`;
    this.policy = app.targetNamespace !== undefined ? ctx.input.namespacedPolicy : ctx.input.clusterPolicy;
  }

  /**
   * Creates the object; whatever the create is refused for, an object of that name that exists is then
   * compared and decided on (an identical Service keeping its node port is refused as "port already
   * allocated", not as "already exists"). A restore into an empty namespace costs one request per
   * object. Resolves with whether an object of that name is now live.
   */
  async apply(): Promise<boolean> {
    try {
      await this.restoreStatus(await this.create());
      this.app.report.record('created');
      return true;
    } catch (error) {
      const refused = error instanceof KubeApiError && (error.status === 409 || error.status === 422);
      const live = refused ? await this.readLive() : undefined;
      if (!live) {
        this.app.report.fail(`cannot create: ${message(error)}`);
        return false;
      }
      await this.resolve(live);
      return true;
    }
  }

  /** Plans the object: `namespaceNew` when its namespace is not there yet (nothing in it to read). */
  async plan(namespaceNew: boolean): Promise<void> {
    const { report } = this.app;
    const live = namespaceNew ? undefined : await this.readLive();
    if (live) return this.resolve(live);
    if (namespaceNew) return report.record('created');
    // The API server validates the object (schema, admission) without storing it.
    try {
      await this.create({ dryRun: 'All' });
      report.record('created');
    } catch (error) {
      report.fail(`would fail: ${message(error)}`);
    }
  }

  /** Carries out the decision for a live object, or (dry run) records what it would be. */
  private async resolve(live: KubeObject): Promise<void> {
    const { keptByTarget, report } = this.app;
    const decision = decide(live, this.object, {
      groupResource: this.app.gr,
      policy: keptByTarget ? 'use-existing-version' : this.policy,
      transform: this.ctx.input.transform,
    });
    switch (decision.action) {
      case 'unchanged':
        return report.record('unchanged', { reason: 'already exists, same as the backup' });
      case 'skip':
        if (decision.warn)
          this.ctx.log({
            level: 'warning',
            message: `${report.what} already exists and differs from the backup; the live object was kept`,
            ...report.inNamespace,
          });
        return report.record('skipped', {
          reason: keptByTarget
            ? `already exists and differs from the backup; ${keptByTarget}: the target cluster's own is kept`
            : `already exists and differs from the backup (${this.policy})`,
          diff: decision.diff,
        });
      case 'fail':
        return report.fail(`${decision.reason}:\n${formatDiff(decision.diff)}`, decision.diff);
      case 'update':
        return this.update(live, decision.diff);
      case 'recreate':
        return this.recreate(live, decision);
    }
  }

  private async update(live: KubeObject, diff: DiffEntry[]): Promise<void> {
    const { report } = this.app;
    const refused = await this.refusal('update');
    if (refused) return report.fail(refused, diff);
    if (this.ctx.dryRun) {
      // The API server validates the update without storing it: what it refuses, the plan says.
      try {
        await this.replace(live, { dryRun: 'All' });
        report.record('updated', { reason: this.policy, diff });
      } catch (error) {
        report.fail(`would fail: cannot update: ${message(error)}`, diff);
      }
      return;
    }
    try {
      let updated: KubeObject;
      try {
        updated = await this.replace(live);
      } catch (error) {
        // The object changed between the read and the write: once more on its newest version.
        if (!(error instanceof KubeApiError && error.status === 409)) throw error;
        const fresh = await this.readLive();
        if (!fresh) throw error;
        updated = await this.replace(fresh);
      }
      await this.restoreStatus(updated);
      report.record('updated', { reason: this.policy, diff });
    } catch (error) {
      report.fail(`cannot update: ${message(error)}`, diff);
    }
  }

  private async recreate(
    live: KubeObject,
    { diff, immutable }: Extract<Decision, { action: 'recreate' }>,
  ): Promise<void> {
    const { report } = this.app;
    const { dryRun } = this.ctx;
    const reason = `${this.policy}: ${immutable.join(', ')} cannot change in place, so it is deleted and created again`;
    const mayNot = await this.refusal('delete');
    if (mayNot) return report.fail(mayNot, diff);
    // Nothing is deleted that the backup's object could not replace (as far as a dry run tells).
    const refused = await this.createRefused(live);
    if (refused)
      return report.fail(
        `${dryRun ? 'would fail: ' : ''}cannot recreate: ${immutable.join(', ')} cannot change in place, and the backup's object would be refused: ${refused}`,
        diff,
      );
    if (dryRun) return report.record('recreated', { reason, diff });
    this.ctx.log({ level: 'info', message: `${report.what}: ${reason}`, ...report.inNamespace });
    try {
      await this.remove(live);
    } catch (error) {
      return report.fail(`cannot recreate: ${message(error)}`, diff);
    }
    try {
      await this.restoreStatus(await this.create());
      report.record('recreated', { reason, diff });
    } catch (error) {
      const notPutBack = await this.putBack(live);
      report.fail(
        `was deleted to be created again, and cannot be created: ${message(error)}; ${
          notPutBack
            ? `the deleted object could not be created again either: ${notPutBack}`
            : 'the deleted object was created again as it was'
        }`,
        diff,
      );
    }
  }

  /** Why the Restore's creator may not `verb` this item's resource in its namespace, if they may not. */
  private refusal(verb: 'update' | 'delete', subresource?: string): Promise<string | undefined> {
    const { resource, targetNamespace } = this.app;
    return this.ctx.refusal({
      verb,
      group: resource.group,
      resource: resource.resource,
      subresource,
      namespace: targetNamespace,
      name: this.object.metadata.name,
    });
  }

  private readLive(): Promise<KubeObject | undefined> {
    return this.ctx.readLive(this.app.resource, this.app.targetNamespace, this.object.metadata.name);
  }

  private create(query?: Record<string, string>): Promise<KubeObject> {
    return this.ctx.client.json<KubeObject>({
      method: 'POST',
      path: this.path,
      ...(query ? { query } : {}),
      body: this.object,
      signal: this.ctx.signal,
    });
  }

  private replace(live: KubeObject, query?: Record<string, string>): Promise<KubeObject> {
    const { object } = this;
    return this.ctx.client.json<KubeObject>({
      method: 'PUT',
      path: this.itemPath,
      ...(query ? { query } : {}),
      body: { ...object, metadata: { ...object.metadata, resourceVersion: live.metadata.resourceVersion } },
      signal: this.ctx.signal,
    });
  }

  private async restoreStatus(applied: KubeObject): Promise<void> {
    const { status } = this.app.desired;
    if (!this.ctx.input.selection.statusRestored(this.app.gr) || status === undefined) return;
    const notRestored = (why: string) =>
      this.ctx.log({
        level: 'warning',
        message: `${this.app.report.what}: its status could not be restored: ${why}`,
        ...this.app.report.inNamespace,
      });
    // As a failed write of the status: the object is restored, its status is not.
    const refused = await this.refusal('update', 'status');
    if (refused) return notRestored(refused);
    try {
      await this.ctx.client.json({
        method: 'PUT',
        path: `${this.itemPath}/status`,
        body: { ...applied, status },
        signal: this.ctx.signal,
      });
    } catch (error) {
      notRestored(message(error));
    }
  }

  /** Deletes the live object (only that one: its uid is the precondition) and waits until it is gone. */
  private async remove(live: KubeObject): Promise<void> {
    const { ctx } = this;
    try {
      await ctx.client.json({
        method: 'DELETE',
        path: this.itemPath,
        // What it owns stays (a StatefulSet's pods, a Deployment's replica sets), orphaned: the backup's
        // object adopts what its selector matches.
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          propagationPolicy: 'Orphan',
          ...(live.metadata.uid ? { preconditions: { uid: live.metadata.uid } } : {}),
        },
        signal: ctx.signal,
      });
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
    let still: KubeObject | undefined;
    const gone = async () => {
      still = await this.readLive();
      return !still || still.metadata.uid !== live.metadata.uid;
    };
    const deadline = ctx.deadline(ctx.input.timeoutsMs?.objectDeleted ?? 120_000);
    if (!(await ctx.waitUntil(gone, deadline, 100))) {
      const finalizers = still?.metadata.finalizers ?? [];
      throw new Error(
        `it was deleted to be created again, and is still there (finalizers: ${finalizers.join(', ') || 'none'})`,
      );
    }
  }

  /**
   * Whether the API server would create the backup's object once the live one is gone: a server-side
   * dry-run create under a generated name (a create of the live name is refused as existing), without
   * the node ports the live object holds (the deletion frees them). Resolves with the refusal, if any.
   */
  private async createRefused(live: KubeObject): Promise<string | undefined> {
    // (An empty name is no name: the server generates one.)
    const body = structuredClone(this.object);
    body.metadata = { ...body.metadata, name: '', generateName: `${body.metadata.name.slice(0, 200)}-` };
    if (this.app.gr === 'services') freeNodePorts(body, live);
    try {
      await this.ctx.client.json({
        method: 'POST',
        path: this.path,
        query: { dryRun: 'All' },
        body,
        signal: this.ctx.signal,
      });
      return undefined;
    } catch (error) {
      return message(error);
    }
  }

  /** Creates the deleted live object again as it was, after the backup's could not be created. */
  private async putBack(live: KubeObject): Promise<string | undefined> {
    const {
      uid: _uid,
      resourceVersion: _resourceVersion,
      creationTimestamp: _creationTimestamp,
      managedFields: _managedFields,
      deletionTimestamp: _deletionTimestamp,
      deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
      generation: _generation,
      selfLink: _selfLink,
      ...metadata
    } = live.metadata as KubeObject['metadata'] & Record<string, unknown>;
    const { status: _status, ...rest } = live;
    try {
      await this.ctx.client.json({
        method: 'POST',
        path: this.path,
        body: { ...rest, metadata },
        signal: this.ctx.signal,
      });
      return undefined;
    } catch (error) {
      return message(error);
    }
  }
}

/** Leaves out of a Service (`body`, changed) the node ports `live` holds: deleting it frees them. */
function freeNodePorts(body: KubeObject, live: KubeObject): void {
  type Spec = { ports?: { nodePort?: number }[]; healthCheckNodePort?: number };
  const spec = body.spec as Spec | undefined;
  const liveSpec = live.spec as Spec | undefined;
  if (!spec) return;
  const held = new Set((liveSpec?.ports ?? []).map((p) => p.nodePort).filter((p) => p !== undefined));
  for (const port of spec.ports ?? [])
    if (port.nodePort !== undefined && held.has(port.nodePort)) delete port.nodePort;
  if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort === liveSpec?.healthCheckNodePort)
    delete spec.healthCheckNodePort;
}
