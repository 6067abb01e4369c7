// Item actions: small plug-ins the backup engine runs on every item it writes. An action says which
// resources it applies to, and turns an item into the item to store plus references to more items that
// must follow it into the backup (a pod's claims, a claim's volume, a custom object's definition).
// The built-in related-item rules are actions like any other, registered the same way plugins will be.
import { backupHooksFromAnnotations } from './hooks.ts';
import type { KubeObject } from '../kube/index.ts';

export interface ItemRef {
  /** Velero's GroupResource string: 'persistentvolumes', 'customresourcedefinitions.apiextensions.k8s.io'. */
  groupResource: string;
  namespace?: string | undefined;
  name: string;
}

export interface ActionContext {
  /** The item's group resource. */
  groupResource: string;
  /** Whether a group resource is defined by a CustomResourceDefinition in this cluster. */
  isCustomResource: (groupResource: string) => boolean;
}

export interface ActionResult {
  item: KubeObject;
  additionalItems: ItemRef[];
  /** Problems worth a warning in the backup's results (the item is still backed up). */
  warnings?: string[] | undefined;
}

export interface ItemAction {
  name: string;
  /** Group resources the action applies to; 'custom' applies to every custom resource. */
  appliesTo: readonly string[] | 'custom';
  /**
   * The group resources of the additional items it may return. The engine remembers the items it wrote
   * of these only (to write each once); an action that leaves it out makes the engine remember every item.
   */
  produces?: readonly string[];
  execute(item: KubeObject, context: ActionContext): ActionResult | Promise<ActionResult>;
}

interface PodSpec {
  volumes?: { persistentVolumeClaim?: { claimName?: string } }[];
}

/** A pod brings the PersistentVolumeClaims its volumes mount. */
export const podVolumeClaims: ItemAction = {
  name: 'pod-volume-claims',
  appliesTo: ['pods'],
  produces: ['persistentvolumeclaims'],
  execute(item) {
    const spec = item.spec as PodSpec | undefined;
    const claims = new Set<string>();
    for (const volume of spec?.volumes ?? []) {
      const claim = volume.persistentVolumeClaim?.claimName;
      if (claim) claims.add(claim);
    }
    return {
      item,
      additionalItems: [...claims].map((name) => ({
        groupResource: 'persistentvolumeclaims',
        namespace: item.metadata.namespace,
        name,
      })),
    };
  },
};

/** A bound PersistentVolumeClaim brings its PersistentVolume. */
export const claimVolume: ItemAction = {
  name: 'claim-volume',
  appliesTo: ['persistentvolumeclaims'],
  produces: ['persistentvolumes'],
  execute(item) {
    const volumeName = (item.spec as { volumeName?: string } | undefined)?.volumeName;
    return {
      item,
      additionalItems: volumeName ? [{ groupResource: 'persistentvolumes', name: volumeName }] : [],
    };
  },
};

/** A custom object brings the CustomResourceDefinition that defines its kind. */
export const customResourceDefinition: ItemAction = {
  name: 'custom-resource-definition',
  appliesTo: 'custom',
  produces: ['customresourcedefinitions.apiextensions.k8s.io'],
  execute(item, context) {
    // The CRD's name is <plural>.<group>, which is exactly the group resource string.
    return {
      item,
      additionalItems: [
        { groupResource: 'customresourcedefinitions.apiextensions.k8s.io', name: context.groupResource },
      ],
    };
  },
};

/**
 * What a pod's backup-hook annotations say, read as they will be run: a typo shows as a warning of the
 * backup now, not on the night the hooks are first needed.
 */
export const podHookAnnotations: ItemAction = {
  name: 'pod-hook-annotations',
  appliesTo: ['pods'],
  produces: [],
  execute(item) {
    const annotations = Object.keys(item.metadata.annotations ?? {});
    const warnings = annotations.some((a) => a.includes('.hook.backup.') || a.startsWith('hook.backup.'))
      ? backupHooksFromAnnotations(item).problems
      : [];
    return { item, additionalItems: [], warnings };
  },
};

export const builtinItemActions: readonly ItemAction[] = [
  podVolumeClaims,
  claimVolume,
  customResourceDefinition,
  podHookAnnotations,
];

/** Runs every action that applies to the item, in order; each sees the item the previous one returned. */
export async function runItemActions(
  actions: readonly ItemAction[],
  item: KubeObject,
  context: ActionContext,
): Promise<ActionResult> {
  let current = item;
  const additionalItems: ItemRef[] = [];
  const warnings: string[] = [];
  for (const action of actions) {
    const applies =
      action.appliesTo === 'custom'
        ? context.isCustomResource(context.groupResource)
        : action.appliesTo.includes(context.groupResource);
    if (!applies) continue;
    const result = await action.execute(current, context);
    current = result.item;
    additionalItems.push(...result.additionalItems);
    warnings.push(...(result.warnings ?? []));
  }
  return { item: current, additionalItems, warnings };
}
