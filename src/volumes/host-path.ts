// Where a pod volume's files are on its node: the kubelet mounts every volume of a pod under
// <kubelet root>/pods/<pod uid>/volumes/<plugin>/<volume dir>, the plugin being e.g. kubernetes.io~empty-dir,
// kubernetes.io~local-volume or kubernetes.io~csi. The plugin is found by looking, as Velero's node agent
// does: exactly one directory must match.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeClient } from '../kube/index.ts';

/** The kubelet's default --root-dir. */
export const DEFAULT_KUBELET_ROOT = '/var/lib/kubelet';

export class VolumePathError extends Error {
  override readonly name = 'VolumePathError';
}

export interface VolumePathInput {
  kubeletRoot: string;
  podUid: string;
  /** The volume's directory under its plugin's (volumeDirOf): `scratch`, `pvc-1`, `pvc-2/mount`. */
  volumeDir: string;
  /** For messages: namespace/pod and the volume's name. */
  pod: string;
  volume: string;
}

/** The directory holding the volume's files, on this node. */
export async function findVolumePath(input: VolumePathInput): Promise<string> {
  const volumes = join(input.kubeletRoot, 'pods', input.podUid, 'volumes');
  let plugins: string[];
  try {
    plugins = await readdir(volumes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new VolumePathError(
        `pod ${input.pod}: no volumes under ${volumes}: is the pod on this node, and is --kubelet-root right?`,
        { cause: error },
      );
    throw error;
  }
  const found: string[] = [];
  for (const plugin of plugins.sort()) {
    const path = join(volumes, plugin, input.volumeDir);
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) found.push(path);
  }
  if (found.length === 0)
    throw new VolumePathError(
      `pod ${input.pod}, volume ${input.volume}: no directory ${input.volumeDir} under ${volumes}/*/`,
    );
  if (found.length > 1)
    throw new VolumePathError(
      `pod ${input.pod}, volume ${input.volume}: ${found.length} directories match: ${found.join(', ')}`,
    );
  return found[0] as string;
}

/**
 * The name of the cluster's one node, for `--node-agent local` (this process reads and writes the
 * volumes of the node it runs on); an error naming the count when there are several, or none.
 */
export async function singleNodeName(client: KubeClient, signal?: AbortSignal): Promise<string> {
  const nodes = await client.json<{ items: { metadata: { name: string } }[] }>({
    path: '/api/v1/nodes',
    signal,
  });
  const [node, ...more] = nodes.items;
  if (!node || more.length > 0)
    throw new Error(
      `--node-agent local reads and writes the volumes of a single-node cluster's node, and this cluster has ` +
        `${nodes.items.length} nodes: run the node agent on each instead (cairn install)`,
    );
  return node.metadata.name;
}
