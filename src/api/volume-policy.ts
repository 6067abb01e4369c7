// The volume policy: one ordered list of rules that says, per volume, how its data is backed up (a CSI
// snapshot, a file-system backup, or not at all). Velero's resource-policy format (`version: v1`,
// `volumePolicies: [{conditions, action}]`), so a Velero user's ConfigMap works as it is; a Backup gives
// it inline (`spec.volumePolicy`, Cairn's) or names a ConfigMap holding it (`spec.resourcePolicy`,
// Velero's). The rules are matched by volumes/volume-policy.ts; docs/volumes.md has the precedence.
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum, StringMap } from './schema.ts';

/** What a rule does with the volumes it matches. */
export const VOLUME_POLICY_ACTIONS = ['skip', 'snapshot', 'snapshot+move', 'fs-backup'] as const;
export type VolumePolicyActionType = (typeof VOLUME_POLICY_ACTIONS)[number];

/**
 * The volume types a `volumeTypes` condition names (Velero's list, case as Kubernetes spells the volume
 * source): a PersistentVolume's source, or an inline pod volume's. Any other name is refused (Velero
 * accepts it and never matches it, which hides a typo such as `configmap`).
 */
export const VOLUME_TYPES = [
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'gitRepo',
  'glusterfs',
  'hostPath',
  'image',
  'iscsi',
  'local',
  'nfs',
  'photonPersistentDisk',
  'portworxVolume',
  'projected',
  'quobyte',
  'rbd',
  'scaleIO',
  'secret',
  'storageOS',
  'vsphereVolume',
] as const;

export const CLAIM_PHASES = ['Pending', 'Bound', 'Lost'] as const;

/** A capacity range: "min,max" in Kubernetes quantities; either side may be empty (no bound). */
export const CAPACITY_PATTERN =
  '^\\s*([0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?)?\\s*,\\s*([0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?)?\\s*$';

export const VolumePolicyConditionsSchema = Type.Object(
  {
    capacity: Type.Optional(
      Type.String({
        maxLength: 128,
        pattern: CAPACITY_PATTERN,
        errorMessage: 'not a capacity range "min,max" (quantities such as 10Gi; either side may be empty)',
        description:
          'The PersistentVolume\'s capacity is within min and max, both included ("10Gi,100Gi", ",5Gi", ' +
          '"1Ti,"). A volume with no PersistentVolume has capacity 0.',
      }),
    ),
    storageClass: Type.Optional(
      Type.Array(Type.String(), {
        description: "The PersistentVolume's storage class is one of these (exact names).",
      }),
    ),
    nfs: Type.Optional(
      Type.Object(
        {
          server: Type.Optional(Type.String({ description: 'The NFS server, exactly.' })),
          path: Type.Optional(Type.String({ description: 'The exported path, exactly.' })),
        },
        { additionalProperties: false, description: 'An NFS volume ({} for any), and these of its fields.' },
      ),
    ),
    csi: Type.Optional(
      Type.Object(
        {
          driver: Type.Optional(Type.String({ description: 'The CSI driver, exactly.' })),
          volumeAttributes: Type.Optional(
            StringMap({ description: 'Each of these attributes of the volume, with this value.' }),
          ),
        },
        { additionalProperties: false, description: 'A CSI volume ({} for any), and these of its fields.' },
      ),
    ),
    pvcLabels: Type.Optional(StringMap({ description: "Each of these labels of the volume's claim." })),
    pvcPhase: Type.Optional(
      Type.Array(StringEnum(CLAIM_PHASES), { description: "The volume's claim is in one of these phases." }),
    ),
    volumeTypes: Type.Optional(
      Type.Array(StringEnum(VOLUME_TYPES), {
        description:
          "The volume's type (its PersistentVolume's source, or the pod volume's) is one of these.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Every condition given must hold (none given: every volume matches).',
  },
);
export type VolumePolicyConditions = Static<typeof VolumePolicyConditionsSchema>;

export const VolumePolicyRuleSchema = Type.Object(
  {
    conditions: Type.Optional(VolumePolicyConditionsSchema),
    action: Type.Object(
      {
        type: StringEnum(VOLUME_POLICY_ACTIONS, {
          description:
            'skip: no data of the volume is backed up; snapshot: a CSI snapshot of its claim; ' +
            "snapshot+move (Cairn's): a CSI snapshot whose data is then moved into the repository " +
            '(snapshotMoveData for this volume); fs-backup: a file-system backup of its files by the node agent.',
        }),
        parameters: Type.Optional(
          Type.Record(Type.String(), Type.Unknown(), { description: "Velero's; not read by Cairn." }),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type VolumePolicyRule = Static<typeof VolumePolicyRuleSchema>;

export const VolumePolicySchema = Type.Object(
  {
    version: Type.Literal('v1', { description: 'The format version: v1.' }),
    volumePolicies: Type.Optional(
      Type.Array(VolumePolicyRuleSchema, {
        description: 'The rules, in order: the first whose conditions all hold decides for the volume.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      "Velero's resource-policy format: how each volume's data is backed up, rule by rule (docs/volumes.md).",
  },
);
export type VolumePolicy = Static<typeof VolumePolicySchema>;

/** Velero's reference to a ConfigMap holding a volume policy. */
export const ResourcePolicyRefSchema = Type.Object(
  {
    apiGroup: Type.Optional(Type.String()),
    kind: Type.String({
      maxLength: 16,
      pattern: '^[Cc][Oo][Nn][Ff][Ii][Gg][Mm][Aa][Pp]$',
      errorMessage: 'must be ConfigMap: a volume policy is read from a ConfigMap',
      description: 'ConfigMap (any case).',
    }),
    name: Type.String({ minLength: 1, description: "The ConfigMap, in Cairn's namespace." }),
  },
  {
    additionalProperties: false,
    description:
      "Velero's: the ConfigMap in Cairn's namespace whose one data key holds the volume policy (YAML).",
  },
);
export type ResourcePolicyRef = Static<typeof ResourcePolicyRefSchema>;
