// The init container a restored pod waits in while the node agent fills its volumes, as Velero's
// restore-wait: it mounts each restored volume at /restores/<volume> and ends once every volume holds the
// marker `.cairn/<restore uid>`, which the node agent writes after the volume's last file. The pod's own
// containers therefore start on complete data. The marker stays (as Velero's `.velero/` does): an init
// container runs again when the pod's sandbox is recreated, and must not wait forever then. File-system
// backups leave the `.cairn` directory at a volume's root out.
import type { KubeObject } from '../kube/index.ts';

export const RESTORE_WAIT_CONTAINER = 'cairn-restore-wait';
/** The directory, at a restored volume's root, that holds the markers. */
export const MARKER_DIR = '.cairn';

export interface RestoreWaitOptions {
  /** The restore's uid: each volume's marker is `.cairn/<uid>`. */
  restoreUid: string;
  /** The pod volumes being restored, by name. */
  volumes: readonly string[];
  /** An image with /bin/sh (Cairn's own by default; the testbed's busybox in tests). */
  image: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never' | undefined;
}

// A POSIX sh loop, so any image with /bin/sh serves: Cairn's own image, or busybox.
const WAIT_SCRIPT = [
  'for v in "$@"; do',
  '  echo "waiting for volume $v to be restored (restore $RESTORE_UID)"',
  `  until [ -e "/restores/$v/${MARKER_DIR}/$RESTORE_UID" ]; do sleep 1; done`,
  'done',
  'echo "every volume is restored"',
].join('\n');

interface PodSpecPart {
  initContainers?: { name: string }[];
  [field: string]: unknown;
}

/** The path of a volume's marker, relative to the volume's root. */
export function markerPath(restoreUid: string): string {
  return `${MARKER_DIR}/${restoreUid}`;
}

/**
 * The pod with the restore-wait init container first (a copy; `pod` is not changed). A pod that already
 * has one (restored by an earlier restore) gets it replaced.
 */
export function withRestoreWait(pod: KubeObject, options: RestoreWaitOptions): KubeObject {
  const spec = structuredClone((pod.spec ?? {}) as PodSpecPart);
  const others = (spec.initContainers ?? []).filter((c) => c.name !== RESTORE_WAIT_CONTAINER);
  const container = {
    name: RESTORE_WAIT_CONTAINER,
    image: options.image,
    imagePullPolicy: options.imagePullPolicy ?? 'IfNotPresent',
    command: ['/bin/sh', '-c', WAIT_SCRIPT, RESTORE_WAIT_CONTAINER, ...options.volumes],
    env: [{ name: 'RESTORE_UID', value: options.restoreUid }],
    volumeMounts: options.volumes.map((name) => ({ name, mountPath: `/restores/${name}` })),
    resources: {
      requests: { cpu: '10m', memory: '16Mi' },
      limits: { cpu: '100m', memory: '64Mi' },
    },
  };
  spec.initContainers = [container, ...others];
  return { ...pod, spec };
}
