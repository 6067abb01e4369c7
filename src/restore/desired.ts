// The object a restore applies for a backed-up item: prepared for the target cluster (transform.ts), in
// the version the cluster serves, after the user's transformation rules; a claim restored from its CSI
// snapshot made from it, a pod with volumes to fill wrapped to wait for them, and its init hooks added.
import { collectionPath, type ApiResource, type KubeObject } from '../kube/index.ts';
import { claimFromSnapshot } from '../volumes/index.ts';
import type { ContentItem } from './contents.ts';
import { message, type RestoreContext } from './context.ts';
import { withInitHooks, type PodRestoreHooks } from './hooks.ts';
import { applyTransformRules } from './rules.ts';
import { prepareForRestore } from './transform.ts';

const PVCS = 'persistentvolumeclaims';

/** What the restore does for a pod besides creating it: volumes to fill, hooks to run. */
export interface PodWork {
  volumes: readonly string[];
  hooks: PodRestoreHooks | undefined;
}

export interface DesiredRequest {
  gr: string;
  /** The served version the item is applied as. */
  resource: ApiResource;
  item: ContentItem;
  targetNamespace: string | undefined;
  pod: PodWork;
  /** Volumes not restored: a claim bound to one is provisioned anew. */
  reprovisioned: ReadonlySet<string>;
}

export interface Desired {
  object: KubeObject;
  /** The backed-up status, restored after the object when the selection says so. */
  status: unknown;
}

/** The object to apply, or why there is none. */
export async function desiredObject(
  ctx: RestoreContext,
  request: DesiredRequest,
): Promise<Desired | { problem: string }> {
  const { gr, resource, item, targetNamespace } = request;
  const { input } = ctx;
  let prepared: Desired;
  try {
    prepared = prepareForRestore(gr, item.object, input.transform);
  } catch (error) {
    return { problem: `cannot be prepared for restore: ${message(error)}` };
  }
  let object = prepared.object;
  object.apiVersion = resource.groupVersion;
  if (gr === PVCS) {
    const spec = object.spec as { volumeName?: string } | undefined;
    if (spec?.volumeName && request.reprovisioned.has(spec.volumeName)) delete spec.volumeName;
  }
  if (input.rules.length > 0) {
    const ruled = applyTransformRules(input.rules, {
      groupResource: gr,
      kind: resource.kind,
      group: resource.group,
      object,
      ...(item.namespace !== undefined ? { sourceNamespace: item.namespace } : {}),
    });
    if ('error' in ruled)
      return { problem: `transformation rule "${ruled.error.rule}" does not apply: ${ruled.error.message}` };
    object = ruled.object;
  }
  if (gr === PVCS) {
    const made = await fromSnapshot(ctx, request, object);
    if ('problem' in made) return made;
    object = made.object;
  }
  if (targetNamespace === undefined || item.namespace === undefined)
    return { object, status: prepared.status };
  const { volumes, hooks } = request.pod;
  if (volumes.length > 0 && input.podVolumes) {
    object = input.podVolumes.wrap(object, volumes);
    ctx.recorder.podsWithVolumes.set(`${targetNamespace}/${object.metadata.name}`, {
      namespace: targetNamespace,
      name: object.metadata.name,
      sourceNamespace: item.namespace,
      volumes,
    });
  }
  if (hooks) {
    object = withInitHooks(object, hooks.init);
    ctx.recorder.podsWithHooks.set(`${targetNamespace}/${object.metadata.name}`, {
      namespace: targetNamespace,
      name: object.metadata.name,
      hooks,
    });
  }
  return { object, status: prepared.status };
}

/**
 * A claim with a CSI snapshot in the backup is made from it, unless it exists in the target (then the
 * conflict policy judges the live claim against the backed-up one, and nothing is made).
 */
async function fromSnapshot(
  ctx: RestoreContext,
  { resource, item, targetNamespace }: DesiredRequest,
  claim: KubeObject,
): Promise<{ object: KubeObject } | { problem: string }> {
  const snapshots = ctx.input.claimSnapshots;
  const snapshot = item.namespace !== undefined ? snapshots?.of(item.namespace, item.name) : undefined;
  if (!snapshot || !snapshots || targetNamespace === undefined) return { object: claim };
  const name = claim.metadata.name;
  const path = `${collectionPath(resource, targetNamespace)}/${encodeURIComponent(name)}`;
  const exists = (await ctx.client.send({ method: 'GET', path, signal: ctx.signal })).status !== 404;
  if (exists) return { object: claim };
  let snapshotName = `<made from snapshot ${snapshot.snapshotHandle}>`;
  if (!ctx.dryRun) {
    try {
      snapshotName = await snapshots.prepare(snapshot, targetNamespace, name);
    } catch (error) {
      return {
        problem: `cannot be restored from its CSI snapshot ${snapshot.snapshotHandle}: ${message(error)}`,
      };
    }
  }
  return { object: claimFromSnapshot(claim, snapshotName, snapshot.restoreSize) };
}
