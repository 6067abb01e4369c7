// The volume policy (api/volume-policy.ts): reading it (from the Backup spec, or from the ConfigMap a
// Velero-style `resourcePolicy` names), checking it, and matching a volume against its rules. A volume is
// described by its facts: its PersistentVolume's (capacity, storage class, source type, NFS and CSI fields)
// and its claim's labels and phase, or an inline pod volume's type and source. The first rule whose
// conditions all hold decides; no match leaves the volume to the annotations and snapshotVolumes
// (docs/volumes.md has the whole precedence).
import { parse } from 'yaml';
import {
  schemaProblems,
  problemText,
  VOLUME_TYPES,
  VolumePolicySchema,
  type BackupSpec,
  type ResourcePolicyRef,
  type SpecProblem,
  type VolumePolicy,
  type VolumePolicyActionType,
  type VolumePolicyConditions,
  type VolumePolicyRule,
} from '../api/index.ts';
import { KubeApiError, type KubeClient, type KubeObject } from '../kube/index.ts';
import { quantityBytes } from './csi-snapshots.ts';

/** What a policy is matched against: one volume's facts. */
export interface VolumeFacts {
  /** Its PersistentVolume's source type, or the inline pod volume's ('' when not known). */
  type: string;
  /** Its PersistentVolume's capacity in bytes (0 without one). */
  capacityBytes: number;
  storageClass?: string | undefined;
  nfs?: { server?: string | undefined; path?: string | undefined } | undefined;
  csi?: { driver?: string | undefined; volumeAttributes?: Record<string, string> | undefined } | undefined;
  claimLabels?: Record<string, string> | undefined;
  claimPhase?: string | undefined;
}

/** The rule that matched a volume: its place (1-based), the rule, and how messages name it. */
export interface PolicyMatch {
  index: number;
  rule: VolumePolicyRule;
  action: VolumePolicyActionType;
  /** "volume policy rule 2 (storageClass [fast])". */
  text: string;
}

/** A volume policy that cannot be used: each problem names the field and the value. */
export class VolumePolicyError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`the volume policy ${source} is not valid: ${problems.join('; ')}`);
    this.name = 'VolumePolicyError';
    this.problems = problems;
  }
}

interface Range {
  min: number;
  max: number | undefined;
}

/** A capacity condition's bounds; an empty side (or Velero's explicit 0 maximum) is no bound. */
function capacityRange(text: string): Range | string {
  const parts = text.split(',');
  if (parts.length !== 2) return 'not a capacity range "min,max"';
  const [low = '', high = ''] = parts.map((p) => p.trim());
  const min = low === '' ? 0 : quantityBytes(low);
  const max = high === '' ? 0 : quantityBytes(high);
  if (min === undefined) return `its minimum "${low}" is not a quantity`;
  if (max === undefined) return `its maximum "${high}" is not a quantity`;
  if (max !== 0 && min > max) return `its minimum ${low} is more than its maximum ${high}`;
  return { min, max: max === 0 ? undefined : max };
}

/**
 * Every problem of a policy, each naming the field and the value: the schema's (unknown fields, an action
 * that is not one of skip, snapshot, snapshot+move, fs-backup, a volume type Kubernetes has not) and the conditions'
 * (a capacity whose minimum is above its maximum, CSI attributes without the driver).
 */
export function volumePolicyProblems(policy: unknown, prefix = ''): SpecProblem[] {
  const problems = schemaProblems(VolumePolicySchema, policy, { prefix });
  if (problems.length > 0) return problems;
  const field = (rest: string) => (prefix ? `${prefix}.${rest}` : rest);
  for (const [i, rule] of ((policy as VolumePolicy).volumePolicies ?? []).entries()) {
    const conditions = rule.conditions ?? {};
    if (conditions.capacity !== undefined) {
      const range = capacityRange(conditions.capacity);
      if (typeof range === 'string')
        problems.push({
          field: field(`volumePolicies[${i}].conditions.capacity`),
          value: conditions.capacity,
          message: range,
        });
    }
    if (conditions.csi?.volumeAttributes && !conditions.csi.driver)
      problems.push({
        field: field(`volumePolicies[${i}].conditions.csi`),
        value: JSON.stringify(conditions.csi),
        message: 'volumeAttributes need the driver they belong to',
      });
  }
  return problems;
}

/** A policy from its YAML (or JSON) text, checked; throws VolumePolicyError naming each problem. */
export function parseVolumePolicy(text: string, source: string): VolumePolicy {
  let value: unknown;
  try {
    value = parse(text, { uniqueKeys: true });
  } catch (error) {
    throw new VolumePolicyError(source, [`not YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  if (value === null || value === undefined) throw new VolumePolicyError(source, ['it is empty']);
  const problems = volumePolicyProblems(value);
  if (problems.length > 0) throw new VolumePolicyError(source, problems.map(problemText));
  return value as VolumePolicy;
}

/**
 * The policy in a ConfigMap (Velero's resourcePolicy): its one data key's value. Throws VolumePolicyError
 * when the ConfigMap is missing, has no key or several, or holds a policy that is not valid.
 */
export async function readResourcePolicy(
  client: KubeClient,
  ref: ResourcePolicyRef,
  namespace: string,
  signal?: AbortSignal,
): Promise<VolumePolicy> {
  const source = `in ConfigMap ${namespace}/${ref.name} (resourcePolicy)`;
  let configMap: KubeObject;
  try {
    configMap = await client.json<KubeObject>({
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(ref.name)}`,
      signal,
    });
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404)
      throw new VolumePolicyError(source, [`ConfigMap ${namespace}/${ref.name} does not exist`]);
    throw error;
  }
  const data = Object.entries((configMap as { data?: Record<string, string> }).data ?? {});
  if (data.length !== 1)
    throw new VolumePolicyError(source, [
      `the ConfigMap has ${data.length} data keys (${data.map(([k]) => k).join(', ') || 'none'}); it must have exactly one, holding the policy`,
    ]);
  const [key, text] = data[0] ?? ['', ''];
  return parseVolumePolicy(text, `${source}, key ${key}`);
}

/**
 * The backup's volume policy: its spec's `volumePolicy`, else the ConfigMap its `resourcePolicy` names (in
 * `namespace`, Cairn's), else none.
 */
export async function backupVolumePolicy(
  client: KubeClient,
  spec: Pick<BackupSpec, 'volumePolicy' | 'resourcePolicy'>,
  namespace: string,
  signal?: AbortSignal,
): Promise<VolumePolicy | undefined> {
  if (spec.volumePolicy) return spec.volumePolicy;
  if (spec.resourcePolicy) return readResourcePolicy(client, spec.resourcePolicy, namespace, signal);
  return undefined;
}

function conditionsHold(conditions: VolumePolicyConditions, facts: VolumeFacts): boolean {
  if (conditions.capacity !== undefined) {
    const range = capacityRange(conditions.capacity);
    if (typeof range === 'string') return false;
    if (facts.capacityBytes < range.min || (range.max !== undefined && facts.capacityBytes > range.max))
      return false;
  }
  if (conditions.storageClass && !conditions.storageClass.includes(facts.storageClass ?? '\0')) return false;
  if (conditions.nfs) {
    if (!facts.nfs) return false;
    if (conditions.nfs.server !== undefined && conditions.nfs.server !== facts.nfs.server) return false;
    if (conditions.nfs.path !== undefined && conditions.nfs.path !== facts.nfs.path) return false;
  }
  if (conditions.csi) {
    if (!facts.csi) return false;
    if (conditions.csi.driver !== undefined && conditions.csi.driver !== facts.csi.driver) return false;
    for (const [key, value] of Object.entries(conditions.csi.volumeAttributes ?? {}))
      if (facts.csi.volumeAttributes?.[key] !== value) return false;
  }
  if (conditions.pvcLabels)
    for (const [key, value] of Object.entries(conditions.pvcLabels))
      if (facts.claimLabels?.[key] !== value) return false;
  if (conditions.pvcPhase && !(conditions.pvcPhase as string[]).includes(facts.claimPhase ?? '\0'))
    return false;
  if (conditions.volumeTypes && !(conditions.volumeTypes as string[]).includes(facts.type)) return false;
  return true;
}

/** How messages name a rule: its place and its conditions. */
export function ruleText(index: number, rule: VolumePolicyRule): string {
  const conditions = Object.entries(rule.conditions ?? {}).map(
    ([key, value]) => `${key} ${JSON.stringify(value)}`,
  );
  return `volume policy rule ${index} (${conditions.length > 0 ? conditions.join(', ') : 'every volume'})`;
}

/** The first rule of `policy` whose conditions all hold for the volume, or undefined. */
export function matchVolumePolicy(
  policy: VolumePolicy | undefined,
  facts: VolumeFacts,
): PolicyMatch | undefined {
  for (const [i, rule] of (policy?.volumePolicies ?? []).entries())
    if (conditionsHold(rule.conditions ?? {}, facts))
      return { index: i + 1, rule, action: rule.action.type, text: ruleText(i + 1, rule) };
  return undefined;
}

const KNOWN_TYPES: readonly string[] = VOLUME_TYPES;

/** The first of a volume source's fields that names a known volume type. */
function typeOf(source: Record<string, unknown> | undefined): string {
  for (const key of Object.keys(source ?? {})) {
    // Kubernetes spells the field storageos; Velero's list (and so the policy) storageOS.
    if (key === 'storageos') return 'storageOS';
    if (KNOWN_TYPES.includes(key)) return key;
  }
  return '';
}

interface PersistentVolumeSpec {
  capacity?: { storage?: string };
  storageClassName?: string;
  nfs?: { server?: string; path?: string };
  csi?: { driver?: string; volumeAttributes?: Record<string, string> };
  [source: string]: unknown;
}

/** A claim's facts: its PersistentVolume's (when bound) and its own labels and phase. */
export function claimFacts(claim: KubeObject | undefined, pv: KubeObject | undefined): VolumeFacts {
  const spec = (pv?.spec ?? {}) as PersistentVolumeSpec;
  return {
    type: pv ? typeOf(spec) : '',
    capacityBytes: (spec.capacity?.storage && quantityBytes(spec.capacity.storage)) || 0,
    storageClass: pv ? spec.storageClassName : undefined,
    nfs: spec.nfs ? { server: spec.nfs.server, path: spec.nfs.path } : undefined,
    csi: spec.csi ? { driver: spec.csi.driver, volumeAttributes: spec.csi.volumeAttributes } : undefined,
    claimLabels: claim?.metadata.labels,
    claimPhase: (claim?.status as { phase?: string } | undefined)?.phase,
  };
}

/** An inline pod volume's facts (one that mounts no claim): its type and its NFS or CSI source. */
export function podVolumeFacts(volume: Record<string, unknown>): VolumeFacts {
  const nfs = volume.nfs as { server?: string; path?: string } | undefined;
  const csi = volume.csi as { driver?: string; volumeAttributes?: Record<string, string> } | undefined;
  const { name: _name, ...source } = volume;
  return {
    type: typeOf(source),
    capacityBytes: 0,
    nfs: nfs ? { server: nfs.server, path: nfs.path } : undefined,
    csi: csi ? { driver: csi.driver, volumeAttributes: csi.volumeAttributes } : undefined,
  };
}

/**
 * Reads claims and their PersistentVolumes once each, for the facts of every volume that mounts them. A
 * claim or volume that is gone reads as undefined.
 */
export class ClaimReader {
  readonly #client: KubeClient;
  readonly #signal: AbortSignal | undefined;
  readonly #claims = new Map<string, Promise<{ claim?: KubeObject; pv?: KubeObject }>>();

  constructor(client: KubeClient, signal?: AbortSignal) {
    this.#client = client;
    this.#signal = signal;
  }

  /** The claim (as given, or read) and its bound PersistentVolume. */
  read(
    namespace: string,
    name: string,
    known?: KubeObject,
  ): Promise<{ claim?: KubeObject; pv?: KubeObject }> {
    const key = `${namespace}/${name}`;
    let entry = this.#claims.get(key);
    if (!entry) {
      entry = this.#read(namespace, name, known);
      this.#claims.set(key, entry);
    }
    return entry;
  }

  async facts(namespace: string, name: string, known?: KubeObject): Promise<VolumeFacts> {
    const { claim, pv } = await this.read(namespace, name, known);
    return claimFacts(claim, pv);
  }

  async #get(path: string): Promise<KubeObject | undefined> {
    try {
      return await this.#client.json<KubeObject>({ path, signal: this.#signal });
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  async #read(
    namespace: string,
    name: string,
    known: KubeObject | undefined,
  ): Promise<{ claim?: KubeObject; pv?: KubeObject }> {
    const claim =
      known ??
      (await this.#get(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/persistentvolumeclaims/${encodeURIComponent(name)}`,
      ));
    const volumeName = (claim?.spec as { volumeName?: string } | undefined)?.volumeName;
    const pv = volumeName
      ? await this.#get(`/api/v1/persistentvolumes/${encodeURIComponent(volumeName)}`)
      : undefined;
    return { ...(claim ? { claim } : {}), ...(pv ? { pv } : {}) };
  }
}
