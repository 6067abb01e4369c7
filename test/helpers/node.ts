// The testbed's real nodes, as tests see them: where each node keeps its pods' volumes, the images it
// can run (pods use `imagePullPolicy: Never`; nothing is ever pulled), kubectl on the testbed's clusters,
// and waiting for a pod to run.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from '../../src/kube/index.ts';
import { eventually, testbedEnv } from './testbed.ts';

/** The images every testbed node has (testbed/lib/images.ts makes them). */
export const TESTBED_IMAGES = {
  busybox: 'testbed.cairn.dev/busybox:1.35',
  pause: 'registry.k8s.io/pause:3.10',
} as const;

/** The storage every testbed node offers (testbed/lib/node.ts creates it). */
export const TESTBED_STORAGE = {
  localClass: 'testbed-local',
  csiClass: 'testbed-csi',
  csiDriver: 'csi.testbed.cairn.dev',
  snapshotClass: 'testbed-csi',
} as const;

export interface TestbedNode {
  cluster: string;
  /** The Node's name. */
  name: string;
  /** The kubelet's --root-dir: pods' volumes are under <rootDir>/pods/<uid>/volumes/. */
  rootDir: string;
  nodeIp: string;
  cgroupRoot: string;
  bridge: string;
}

/** The node of cluster a or b, from the running testbed's state. */
export function testbedNode(cluster: 'a' | 'b' = 'a'): TestbedNode {
  const stateDir = testbedEnv('CAIRN_TESTBED_STATE');
  const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
    nodes?: TestbedNode[];
  };
  const node = state.nodes?.find((n) => n.cluster === cluster);
  if (!node) {
    throw new Error(`the testbed has no node for cluster ${cluster}: start it without --no-node`);
  }
  return node;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the testbed's kubectl on cluster a or b; resolves with its exit code and output. */
export function kubectl(
  args: string[],
  options: { cluster?: 'a' | 'b'; input?: string } = {},
): Promise<KubectlResult> {
  const kubeconfig = testbedEnv(options.cluster === 'b' ? 'KUBECONFIG_B' : 'KUBECONFIG');
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

interface PodStatus {
  metadata: { uid: string };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; state?: { waiting?: { reason?: string; message?: string } } }[];
  };
}

/** Waits until the pod is Ready (all containers running and ready); fails with its waiting reasons. */
export async function waitForPodReady(
  client: KubeClient,
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<PodStatus> {
  let last: PodStatus | undefined;
  try {
    return await eventually(
      `pod ${namespace}/${name} Ready`,
      async () => {
        last = await client.json<PodStatus>({
          method: 'GET',
          path: `/api/v1/namespaces/${namespace}/pods/${name}`,
        });
        const ready = last.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
        return ready ? last : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    const waiting = (last?.status?.containerStatuses ?? [])
      .map((c) => `${c.name}: ${c.state?.waiting?.reason ?? ''} ${c.state?.waiting?.message ?? ''}`.trim())
      .join('; ');
    throw new Error(`${(error as Error).message} (phase ${last?.status?.phase ?? 'unknown'}; ${waiting})`, {
      cause: error,
    });
  }
}

/** A pod that runs `script` in the testbed's busybox image, with the given volumes mounted at /<name>. */
export function busyboxPod(options: {
  name: string;
  script: string;
  volumes: Record<string, Record<string, unknown>>;
}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: TESTBED_IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', options.script],
          volumeMounts: Object.keys(options.volumes).map((name) => ({ name, mountPath: `/${name}` })),
        },
      ],
      volumes: Object.entries(options.volumes).map(([name, source]) => ({ name, ...source })),
    },
  };
}

/**
 * Waits until the pod's log has a line `line` (its script prints it once its files are written: a running
 * container is not a finished script).
 */
export async function waitForPodLine(
  namespace: string,
  pod: string,
  line: string,
  options: { cluster?: 'a' | 'b'; timeoutMs?: number } = {},
): Promise<void> {
  await eventually(
    `pod ${namespace}/${pod} to print "${line}"`,
    async () => {
      const logs = await kubectl(['logs', '-n', namespace, pod], { cluster: options.cluster ?? 'a' });
      return logs.stdout.split('\n').includes(line) ? true : undefined;
    },
    options.timeoutMs ?? 120_000,
  );
}
