// Velero backups built by hand from Velero's documentation, not by Cairn's writer: the archive layout of
// site/content/docs/main/output-file-format.md (format 1.1.0 and format 1), the header details of
// Velero's Go writer (pkg/backup: archive/tar headers with Mode 0755, Typeflag '0', USTAR; compress/gzip),
// objects as json.Marshal of an unstructured object writes them (keys sorted, compact, HTML characters
// escaped), and the bucket layout of pkg/persistence/object_store_layout.go. The tar headers, the gzip
// container and its deflate stream are written here, byte by byte, so the output is the same on every
// machine: test/fixtures/velero/*.tar.gz are its output, and a test checks that they still are.
import { crc32 } from 'node:zlib';

/** The clock of the fixtures: Velero stamps every tar header with time.Now(). */
export const FIXTURE_TIME = new Date('2026-05-20T10:00:00Z');

export type FixtureVariant = '1.1.0' | '1' | '1.1.0-repacked';

/** The committed files under test/fixtures/velero/, by variant. */
export const FIXTURE_FILES: Record<FixtureVariant, string> = {
  '1.1.0': 'velero-1.1.0.tar.gz',
  '1': 'velero-1.tar.gz',
  '1.1.0-repacked': 'velero-1.1.0-repacked.tar.gz',
};

/** One object of the backup, in the API version it was read in. */
export interface VeleroItem {
  groupResource: string;
  namespace?: string;
  name: string;
  version: string;
  /** Whether `version` is the group's preferred version on the source cluster. */
  preferred: boolean;
  object: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Go's encoding/json of map[string]interface{}

/** What Go's json.Marshal writes for an unstructured object: sorted keys, compact, <>& and U+2028/9 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}

// ---------------------------------------------------------------------------------------------------
// tar: Go's archive/tar (USTAR) and GNU tar's gnu format

interface TarHeader {
  name: string;
  size: number;
  mode: number;
  mtime: Date;
  /** '0' regular file, '5' directory, 'L' GNU long name. */
  type: '0' | '5' | 'L';
  format: 'go-ustar' | 'gnu';
}

/** One 512-byte header block, as Go's tar.Writer (USTAR) or GNU tar (gnu format) writes it. */
function tarHeader(header: TarHeader): Buffer {
  const block = Buffer.alloc(512);
  const octal = (offset: number, width: number, value: number) =>
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii');
  let { name } = header;
  if (header.format === 'go-ustar' && name.length > 100) {
    // Go's splitUSTARPath: the last '/' within the first 156 bytes splits prefix and name.
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || name.length - cut - 1 > 100 || cut > 155) throw new Error(`path too long: ${name}`);
    block.write(name.slice(0, cut), 345, 'ascii');
    name = name.slice(cut + 1);
  }
  block.write(name.slice(0, 100), 0, 'ascii');
  octal(100, 8, header.mode);
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  octal(124, 12, header.size);
  octal(136, 12, Math.round(header.mtime.getTime() / 1000));
  block.write(header.type, 156, 'ascii');
  if (header.format === 'go-ustar') {
    block.write('ustar\x0000', 257, 'ascii'); // magic "ustar\0", version "00"; uname, gname empty
    octal(329, 8, 0); // devmajor
    octal(337, 8, 0); // devminor
  } else {
    block.write('ustar  \x00', 257, 'ascii'); // GNU magic
    block.write('root', 265, 'ascii');
    block.write('root', 297, 'ascii');
  }
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

export interface TarFile {
  name: string;
  /** Absent for a directory. */
  content?: Buffer | string;
}

/** A tar written the way Go's tar.Writer writes Velero's archive: USTAR headers, two zero blocks at the end. */
export function goTar(files: TarFile[], mtime = FIXTURE_TIME): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const data = Buffer.from(file.content ?? '');
    blocks.push(
      tarHeader({ name: file.name, size: data.length, mode: 0o755, mtime, type: '0', format: 'go-ustar' }),
    );
    blocks.push(padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * A tar written the way GNU tar re-packs an extracted backup (`tar -C dir -czf b.tar.gz .`): `./` names,
 * directory entries, ././@LongLink entries for names over 100 bytes, padded to 20-block records.
 */
export function gnuTar(files: TarFile[], mtime = FIXTURE_TIME): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const directory = file.content === undefined;
    const data = Buffer.from(file.content ?? '');
    if (file.name.length > 100) {
      const longName = Buffer.from(`${file.name}\0`);
      blocks.push(
        tarHeader({
          name: '././@LongLink',
          size: longName.length,
          mode: 0,
          mtime: new Date(0),
          type: 'L',
          format: 'gnu',
        }),
      );
      blocks.push(padded(longName));
    }
    blocks.push(
      tarHeader({
        name: file.name,
        size: data.length,
        mode: 0o755,
        mtime,
        type: directory ? '5' : '0',
        format: 'gnu',
      }),
    );
    blocks.push(padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return Buffer.concat([tar, Buffer.alloc((10240 - (tar.length % 10240)) % 10240)]);
}

// ---------------------------------------------------------------------------------------------------
// gzip (RFC 1952) around a deflate stream (RFC 1951) of our own: fixed Huffman codes, greedy LZ77.
// Any deflate reads the same; this one is small and deterministic, where zlib builds may differ.

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
  227, 258,
];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
  6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];

/** The largest index whose base is at most `value`. */
function codeIndex(bases: number[], value: number): number {
  let i = bases.length - 1;
  while ((bases[i] ?? 0) > value) i -= 1;
  return i;
}

/** One final deflate block with the fixed Huffman codes (BTYPE 01), matches found greedily. */
export function deflateFixed(data: Buffer): Buffer {
  const out: number[] = [];
  let bitBuffer = 0;
  let bitCount = 0;
  const bits = (value: number, count: number) => {
    bitBuffer |= value << bitCount;
    bitCount += count;
    while (bitCount >= 8) {
      out.push(bitBuffer & 0xff);
      bitBuffer >>>= 8;
      bitCount -= 8;
    }
  };
  const huffman = (code: number, length: number) => {
    let reversed = 0; // Huffman codes go most significant bit first
    for (let i = 0; i < length; i += 1) reversed |= ((code >> i) & 1) << (length - 1 - i);
    bits(reversed, length);
  };
  const symbol = (s: number) => {
    if (s < 144) huffman(0x30 + s, 8);
    else if (s < 256) huffman(0x190 + s - 144, 9);
    else if (s < 280) huffman(s - 256, 7);
    else huffman(0xc0 + s - 280, 8);
  };

  bits(1, 1); // BFINAL
  bits(1, 2); // BTYPE 01: fixed Huffman codes
  const head = new Int32Array(1 << 15).fill(-1);
  const previous = new Int32Array(data.length);
  const hash = (i: number) =>
    (((data[i] ?? 0) << 10) ^ ((data[i + 1] ?? 0) << 5) ^ (data[i + 2] ?? 0)) & 0x7fff;
  const insert = (i: number) => {
    if (i + 2 >= data.length) return;
    const h = hash(i);
    previous[i] = head[h] ?? -1;
    head[h] = i;
  };
  let i = 0;
  while (i < data.length) {
    let bestLength = 0;
    let bestDistance = 0;
    if (i + 2 < data.length) {
      let candidate = head[hash(i)] ?? -1;
      const limit = Math.min(258, data.length - i);
      for (let chain = 0; chain < 64 && candidate >= 0 && i - candidate <= 32768; chain += 1) {
        let length = 0;
        while (length < limit && data[candidate + length] === data[i + length]) length += 1;
        if (length > bestLength) {
          bestLength = length;
          bestDistance = i - candidate;
          if (length === limit) break;
        }
        candidate = previous[candidate] ?? -1;
      }
    }
    if (bestLength >= 3) {
      const l = codeIndex(LENGTH_BASE, bestLength);
      symbol(257 + l);
      bits(bestLength - (LENGTH_BASE[l] ?? 0), LENGTH_EXTRA[l] ?? 0);
      const d = codeIndex(DISTANCE_BASE, bestDistance);
      huffman(d, 5);
      bits(bestDistance - (DISTANCE_BASE[d] ?? 0), DISTANCE_EXTRA[d] ?? 0);
      for (let k = 0; k < bestLength; k += 1) insert(i + k);
      i += bestLength;
    } else {
      symbol(data[i] ?? 0);
      insert(i);
      i += 1;
    }
  }
  symbol(256); // end of block
  if (bitCount > 0) out.push(bitBuffer & 0xff);
  return Buffer.from(out);
}

/** A gzip member with the header Go's compress/gzip writes (no name, mtime 0, XFL 0, OS 255). */
export function goGzip(data: Buffer): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  return Buffer.concat([header, deflateFixed(data), trailer]);
}

// ---------------------------------------------------------------------------------------------------
// The backup: namespace "shop" with its workload, storage, a CRD and custom objects in two versions.

const created = '2026-05-18T09:12:04Z';
const manager = (apiVersion: string, fieldsV1: unknown, subresource?: string) => ({
  apiVersion,
  fieldsType: 'FieldsV1',
  fieldsV1,
  manager: subresource === undefined ? 'kubectl-client-side-apply' : 'kube-controller-manager',
  operation: 'Update',
  ...(subresource === undefined ? {} : { subresource }),
  time: created,
});

const webConfig = {
  'index.html': '<h1>Shop</h1>',
  'app.properties': 'currency=EUR&locale=de_DE\nfeature.checkout=true\n',
};
const lastApplied = (object: unknown) => ({
  'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(object)}\n`,
});

function widget(name: string, version: 'v1' | 'v2', uid: string, size: string): Record<string, unknown> {
  // The CRD has no conversion webhook (strategy None): the versions differ only in apiVersion.
  return {
    apiVersion: `example.com/${version}`,
    kind: 'Widget',
    metadata: {
      creationTimestamp: created,
      generation: 1,
      managedFields: [manager('example.com/v2', { 'f:spec': { '.': {}, 'f:color': {}, 'f:size': {} } })],
      name,
      namespace: 'shop',
      resourceVersion: '1807',
      uid,
    },
    spec: { color: name, size },
  };
}

/** The items of the fixture backup, in the order Velero's item collector reaches them. */
export function veleroItems(): VeleroItem[] {
  const pvName = 'pvc-3f1c9a52-8d0e-4b7a-9c61-2f5d7e4a1b08';
  return [
    {
      groupResource: 'persistentvolumeclaims',
      namespace: 'shop',
      name: 'data',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          annotations: {
            'pv.kubernetes.io/bind-completed': 'yes',
            'pv.kubernetes.io/bound-by-controller': 'yes',
          },
          creationTimestamp: created,
          finalizers: ['kubernetes.io/pvc-protection'],
          managedFields: [
            manager('v1', {
              'f:spec': {
                'f:accessModes': {},
                'f:resources': { 'f:requests': { '.': {}, 'f:storage': {} } },
              },
            }),
            manager(
              'v1',
              {
                'f:status': {
                  'f:accessModes': {},
                  'f:capacity': { '.': {}, 'f:storage': {} },
                  'f:phase': {},
                },
              },
              'status',
            ),
          ],
          name: 'data',
          namespace: 'shop',
          resourceVersion: '1741',
          uid: '3f1c9a52-8d0e-4b7a-9c61-2f5d7e4a1b08',
        },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
          storageClassName: 'standard',
          volumeMode: 'Filesystem',
          volumeName: pvName,
        },
        status: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' }, phase: 'Bound' },
      },
    },
    {
      groupResource: 'persistentvolumes',
      name: pvName,
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: {
          annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' },
          creationTimestamp: created,
          finalizers: ['kubernetes.io/pv-protection'],
          managedFields: [manager('v1', { 'f:spec': { 'f:claimRef': {}, 'f:hostPath': {} } })],
          name: pvName,
          resourceVersion: '1739',
          uid: 'a7d2e4c1-5b3f-4e8a-b9d0-6c1e2f3a4b5c',
        },
        spec: {
          accessModes: ['ReadWriteOnce'],
          capacity: { storage: '1Gi' },
          claimRef: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            name: 'data',
            namespace: 'shop',
            resourceVersion: '1730',
            uid: '3f1c9a52-8d0e-4b7a-9c61-2f5d7e4a1b08',
          },
          hostPath: { path: `/var/lib/local-path/${pvName}_shop_data`, type: 'DirectoryOrCreate' },
          persistentVolumeReclaimPolicy: 'Delete',
          storageClassName: 'standard',
          volumeMode: 'Filesystem',
        },
        status: { lastPhaseTransitionTime: created, phase: 'Bound' },
      },
    },
    {
      groupResource: 'configmaps',
      namespace: 'shop',
      name: 'web-config',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        data: webConfig,
        kind: 'ConfigMap',
        metadata: {
          annotations: lastApplied({
            apiVersion: 'v1',
            data: webConfig,
            kind: 'ConfigMap',
            metadata: { annotations: {}, name: 'web-config', namespace: 'shop' },
          }),
          creationTimestamp: created,
          managedFields: [
            manager('v1', { 'f:data': { '.': {}, 'f:app.properties': {}, 'f:index.html': {} } }),
          ],
          name: 'web-config',
          namespace: 'shop',
          resourceVersion: '1702',
          uid: 'c0ffee00-1234-4abc-8def-0123456789ab',
        },
      },
    },
    {
      groupResource: 'namespaces',
      name: 'shop',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          creationTimestamp: created,
          labels: { 'kubernetes.io/metadata.name': 'shop' },
          managedFields: [
            manager('v1', { 'f:metadata': { 'f:labels': { '.': {}, 'f:kubernetes.io/metadata.name': {} } } }),
          ],
          name: 'shop',
          resourceVersion: '1699',
          uid: '5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
        },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      },
    },
    {
      groupResource: 'secrets',
      namespace: 'shop',
      name: 'db-credentials',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        data: {
          password: Buffer.from('s3cr3t&<pass>').toString('base64'),
          username: Buffer.from('shop').toString('base64'),
        },
        kind: 'Secret',
        metadata: {
          creationTimestamp: created,
          managedFields: [
            manager('v1', { 'f:data': { '.': {}, 'f:password': {}, 'f:username': {} }, 'f:type': {} }),
          ],
          name: 'db-credentials',
          namespace: 'shop',
          resourceVersion: '1705',
          uid: '9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
        },
        type: 'Opaque',
      },
    },
    {
      groupResource: 'services',
      namespace: 'shop',
      name: 'web',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          creationTimestamp: created,
          labels: { app: 'web' },
          managedFields: [manager('v1', { 'f:spec': { 'f:ports': {}, 'f:selector': {}, 'f:type': {} } })],
          name: 'web',
          namespace: 'shop',
          resourceVersion: '1712',
          uid: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
        },
        spec: {
          clusterIP: '10.96.41.17',
          clusterIPs: ['10.96.41.17'],
          internalTrafficPolicy: 'Cluster',
          ipFamilies: ['IPv4'],
          ipFamilyPolicy: 'SingleStack',
          ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
          selector: { app: 'web' },
          sessionAffinity: 'None',
          type: 'ClusterIP',
        },
        status: { loadBalancer: {} },
      },
    },
    {
      groupResource: 'deployments.apps',
      namespace: 'shop',
      name: 'web',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          annotations: { 'deployment.kubernetes.io/revision': '1' },
          creationTimestamp: created,
          generation: 1,
          labels: { app: 'web' },
          managedFields: [
            manager('apps/v1', { 'f:spec': { 'f:replicas': {}, 'f:selector': {}, 'f:template': {} } }),
            manager('apps/v1', { 'f:status': { 'f:availableReplicas': {}, 'f:replicas': {} } }, 'status'),
          ],
          name: 'web',
          namespace: 'shop',
          resourceVersion: '1790',
          uid: '7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2910',
        },
        spec: {
          progressDeadlineSeconds: 600,
          replicas: 2,
          revisionHistoryLimit: 10,
          selector: { matchLabels: { app: 'web' } },
          strategy: { rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' }, type: 'RollingUpdate' },
          template: {
            metadata: { creationTimestamp: null, labels: { app: 'web' } },
            spec: {
              containers: [
                {
                  image: 'registry.example.com/shop/web:1.4.2',
                  imagePullPolicy: 'IfNotPresent',
                  name: 'web',
                  ports: [{ containerPort: 8080, protocol: 'TCP' }],
                  resources: {},
                  terminationMessagePath: '/dev/termination-log',
                  terminationMessagePolicy: 'File',
                  volumeMounts: [{ mountPath: '/data', name: 'data' }],
                },
              ],
              dnsPolicy: 'ClusterFirst',
              restartPolicy: 'Always',
              schedulerName: 'default-scheduler',
              securityContext: {},
              terminationGracePeriodSeconds: 30,
              volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
            },
          },
        },
        status: {
          availableReplicas: 2,
          conditions: [
            {
              lastTransitionTime: created,
              lastUpdateTime: created,
              message: 'Deployment has minimum availability.',
              reason: 'MinimumReplicasAvailable',
              status: 'True',
              type: 'Available',
            },
          ],
          observedGeneration: 1,
          readyReplicas: 2,
          replicas: 2,
          updatedReplicas: 2,
        },
      },
    },
    {
      groupResource: 'customresourcedefinitions.apiextensions.k8s.io',
      name: 'widgets.example.com',
      version: 'v1',
      preferred: true,
      object: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: {
          creationTimestamp: created,
          generation: 1,
          managedFields: [
            manager('apiextensions.k8s.io/v1', {
              'f:spec': { 'f:group': {}, 'f:names': {}, 'f:versions': {} },
            }),
          ],
          name: 'widgets.example.com',
          resourceVersion: '1650',
          uid: 'e3d2c1b0-a9f8-4e7d-8c6b-5a4f3e2d1c0b',
        },
        spec: {
          conversion: { strategy: 'None' },
          group: 'example.com',
          names: { kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget' },
          scope: 'Namespaced',
          versions: ['v1', 'v2'].map((name) => ({
            name,
            schema: {
              openAPIV3Schema: {
                properties: {
                  spec: {
                    properties: { color: { type: 'string' }, size: { type: 'string' } },
                    type: 'object',
                  },
                },
                type: 'object',
              },
            },
            served: true,
            storage: name === 'v2',
          })),
        },
        status: {
          acceptedNames: { kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget' },
          conditions: [
            {
              lastTransitionTime: created,
              message: 'no conflicts found',
              reason: 'NoConflicts',
              status: 'True',
              type: 'NamesAccepted',
            },
            {
              lastTransitionTime: created,
              message: 'the initial names have been accepted',
              reason: 'InitialNamesAccepted',
              status: 'True',
              type: 'Established',
            },
          ],
          storedVersions: ['v2'],
        },
      },
    },
    // example.com serves v2 (preferred) and v1; with --features=EnableAPIGroupVersions Velero backs up both.
    widgetItem('blue', 'v2', 'large'),
    widgetItem('green', 'v2', 'small'),
    widgetItem('blue', 'v1', 'large'),
    widgetItem('green', 'v1', 'small'),
  ];
}

function widgetItem(name: string, version: 'v1' | 'v2', size: string): VeleroItem {
  const uid =
    name === 'blue' ? 'b1e0b1e0-0000-4000-8000-00000000b1e0' : '97ee0000-0000-4000-8000-0000000097ee';
  return {
    groupResource: 'widgets.example.com',
    namespace: 'shop',
    name,
    version,
    preferred: version === 'v2',
    object: widget(name, version, uid, size),
  };
}

/** The entry paths of an item: Velero's pkg/archive GetVersionedItemFilePath, legacy path first. */
export function veleroPaths(item: VeleroItem, formatVersion: '1.1.0' | '1'): string[] {
  const scope = item.namespace === undefined ? 'cluster' : `namespaces/${item.namespace}`;
  const path = (versionDir: string) =>
    `resources/${item.groupResource}/${versionDir}${scope}/${item.name}.json`;
  if (formatVersion === '1') return item.preferred ? [path('')] : [];
  return item.preferred ? [path(''), path(`${item.version}-preferredversion/`)] : [path(`${item.version}/`)];
}

/** The archive's files, in the order Velero's writer adds them. */
export function veleroFiles(formatVersion: '1.1.0' | '1'): TarFile[] {
  const files: TarFile[] = [{ name: 'metadata/version', content: `${formatVersion}\n` }];
  for (const item of veleroItems()) {
    const content = goJson(item.object);
    for (const name of veleroPaths(item, formatVersion)) files.push({ name, content });
  }
  return files;
}

/** The fixture archive of a variant, byte for byte. */
export function veleroArchive(variant: FixtureVariant): Buffer {
  if (variant === '1.1.0-repacked') {
    // Extracted and packed again by GNU tar: every directory gets an entry, before what it holds.
    const files = veleroFiles('1.1.0').sort((a, b) => (a.name < b.name ? -1 : 1));
    const entries: TarFile[] = [{ name: './' }];
    const seen = new Set<string>();
    for (const file of files) {
      const parts = file.name.split('/');
      for (let depth = 1; depth < parts.length; depth += 1) {
        const dir = `./${parts.slice(0, depth).join('/')}/`;
        if (!seen.has(dir)) entries.push({ name: dir });
        seen.add(dir);
      }
      entries.push({ name: `./${file.name}`, content: file.content ?? '' });
    }
    return goGzip(gnuTar(entries));
  }
  return goGzip(goTar(veleroFiles(variant)));
}

// ---------------------------------------------------------------------------------------------------
// The bucket: what Velero's PutBackup stores under backups/<name>/ (no claim, no checksum manifest).

/** velero-backup.json as Velero writes it: the Backup with its final status, TypeMeta first. */
export function veleroBackupJson(name: string): Record<string, unknown> {
  return {
    kind: 'Backup',
    apiVersion: 'velero.io/v1',
    metadata: {
      name,
      namespace: 'velero',
      uid: '0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a',
      resourceVersion: '2210',
      generation: 6,
      creationTimestamp: '2026-05-20T09:59:58Z',
      labels: { 'velero.io/storage-location': 'default' },
      annotations: {
        'velero.io/resource-timeout': '10m0s',
        'velero.io/source-cluster-k8s-gitversion': 'v1.33.1',
        'velero.io/source-cluster-k8s-major-version': '1',
        'velero.io/source-cluster-k8s-minor-version': '33',
      },
    },
    spec: {
      metadata: {},
      includedNamespaces: ['shop'],
      ttl: '720h0m0s',
      hooks: {},
      storageLocation: 'default',
      volumeSnapshotLocations: ['default'],
      defaultVolumesToFsBackup: false,
      csiSnapshotTimeout: '10m0s',
      itemOperationTimeout: '4h0m0s',
      snapshotMoveData: false,
    },
    status: {
      version: 1,
      formatVersion: '1.1.0',
      expiration: '2026-06-19T10:00:00Z',
      phase: 'Completed',
      startTimestamp: '2026-05-20T10:00:00Z',
      completionTimestamp: '2026-05-20T10:00:02Z',
      progress: { totalItems: 10, itemsBackedUp: 10 },
      hookStatus: {},
    },
  };
}

/** Every object Velero stores for a backup of the fixture, by key (under the location's prefix). */
export function veleroBucket(name: string): Map<string, Buffer> {
  const dir = `backups/${name}/`;
  const resourceList: Record<string, string[]> = {};
  for (const item of veleroItems()) {
    const key = `${String(item.object['apiVersion'])}/${String(item.object['kind'])}`;
    (resourceList[key] ??= []).push(
      item.namespace === undefined ? item.name : `${item.namespace}/${item.name}`,
    );
  }
  const gz = (text: string) => goGzip(Buffer.from(text));
  return new Map([
    [`${dir}velero-backup.json`, Buffer.from(`${JSON.stringify(veleroBackupJson(name), null, 2)}\n`)],
    [`${dir}${name}.tar.gz`, veleroArchive('1.1.0')],
    [
      `${dir}${name}-logs.gz`,
      gz(`time="2026-05-20T10:00:00Z" level=info msg="Setting up backup temp file" backup=velero/${name}\n`),
    ],
    [`${dir}${name}-results.gz`, gz(goJson({ errors: {}, warnings: {} }))],
    [`${dir}${name}-resource-list.json.gz`, gz(goJson(resourceList))],
  ]);
}

// ---------------------------------------------------------------------------------------------------
// Velero's Go types of the files under backups/<name>/, written out by hand from Velero's sources
// (pkg/apis/velero/v1/backup_types.go, k8s.io/apimachinery metav1.ObjectMeta and metav1.LabelSelector,
// pkg/util/results/result.go, pkg/backup/backed_up_items_map.go). goDecode reads JSON into them as Go's
// encoding/json does: a value of the wrong JSON type is an error (Velero's sync then refuses the backup);
// fields the type does not have are ignored, and reported as unknown so that a test can name them.

export type GoType =
  | 'string'
  | 'int'
  | 'bool'
  /** metav1.Time: an RFC 3339 string. */
  | 'time'
  /** metav1.Duration: a Go duration string ("720h0m0s"). */
  | 'duration'
  | { map: GoType }
  | { slice: GoType }
  | { struct: Record<string, GoType> };

const stringMap: GoType = { map: 'string' };
const strings: GoType = { slice: 'string' };

/** metav1.LabelSelector. */
export const goLabelSelector: GoType = {
  struct: {
    matchLabels: stringMap,
    matchExpressions: { slice: { struct: { key: 'string', operator: 'string', values: strings } } },
  },
};

const goObjectMeta: GoType = {
  struct: {
    name: 'string',
    generateName: 'string',
    namespace: 'string',
    uid: 'string',
    resourceVersion: 'string',
    generation: 'int',
    creationTimestamp: 'time',
    deletionTimestamp: 'time',
    labels: stringMap,
    annotations: stringMap,
    finalizers: strings,
  },
};

const goExecHook: GoType = {
  struct: { container: 'string', command: strings, onError: 'string', timeout: 'duration' },
};

/** velero.io/v1 Backup, as Velero 1.17/1.18 declares it. */
export const goBackup: GoType = {
  struct: {
    apiVersion: 'string',
    kind: 'string',
    metadata: goObjectMeta,
    spec: {
      struct: {
        metadata: { struct: { labels: stringMap } },
        includedNamespaces: strings,
        excludedNamespaces: strings,
        includedResources: strings,
        excludedResources: strings,
        includedClusterScopedResources: strings,
        excludedClusterScopedResources: strings,
        includedNamespaceScopedResources: strings,
        excludedNamespaceScopedResources: strings,
        labelSelector: goLabelSelector,
        orLabelSelectors: { slice: goLabelSelector },
        snapshotVolumes: 'bool',
        ttl: 'duration',
        includeClusterResources: 'bool',
        hooks: {
          struct: {
            resources: {
              slice: {
                struct: {
                  name: 'string',
                  includedNamespaces: strings,
                  excludedNamespaces: strings,
                  includedResources: strings,
                  excludedResources: strings,
                  labelSelector: goLabelSelector,
                  pre: { slice: { struct: { exec: goExecHook } } },
                  post: { slice: { struct: { exec: goExecHook } } },
                },
              },
            },
          },
        },
        storageLocation: 'string',
        volumeSnapshotLocations: strings,
        defaultVolumesToRestic: 'bool',
        defaultVolumesToFsBackup: 'bool',
        orderedResources: stringMap,
        csiSnapshotTimeout: 'duration',
        itemOperationTimeout: 'duration',
        // Velero's JSON name is spelt so (BackupSpec.ResourcePolicies).
        resourcePolices: { struct: { apiGroup: 'string', kind: 'string', name: 'string' } },
        snapshotMoveData: 'bool',
        datamover: 'string',
        uploaderConfig: { struct: { parallelFilesUpload: 'int' } },
        volumeGroupSnapshotLabelKey: 'string',
      },
    },
    status: {
      struct: {
        version: 'int',
        formatVersion: 'string',
        expiration: 'time',
        phase: 'string',
        queuePosition: 'int',
        validationErrors: strings,
        startTimestamp: 'time',
        completionTimestamp: 'time',
        volumeSnapshotsAttempted: 'int',
        volumeSnapshotsCompleted: 'int',
        failureReason: 'string',
        warnings: 'int',
        errors: 'int',
        progress: { struct: { totalItems: 'int', itemsBackedUp: 'int' } },
        csiVolumeSnapshotsAttempted: 'int',
        csiVolumeSnapshotsCompleted: 'int',
        backupItemOperationsAttempted: 'int',
        backupItemOperationsCompleted: 'int',
        backupItemOperationsFailed: 'int',
        hookStatus: { struct: { hooksAttempted: 'int', hooksFailed: 'int' } },
      },
    },
  },
};

/** pkg/util/results: Result, and the results file {"errors": Result, "warnings": Result}. */
const goResult: GoType = {
  struct: { velero: strings, cluster: strings, namespaces: { map: strings } },
};
export const goResults: GoType = { struct: { errors: goResult, warnings: goResult } };

/** The resource list: map[string][]string, "<group/>version/Kind" → "namespace/name" or "name". */
export const goResourceList: GoType = { map: strings };

/** A line of a log as logrus's JSON formatter writes it (Velero's --log-format=json). */
export const goLogLine: GoType = { struct: { time: 'time', level: 'string', msg: 'string' } };

const rfc3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const goDurationText = /^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$/;

export interface GoDecoding {
  /** What Go's decoder refuses: "spec.labelSelector: cannot unmarshal string into LabelSelector". */
  errors: string[];
  /** Fields the type does not have (Go ignores them), as paths. */
  unknown: string[];
}

/** Decodes a JSON value into a Go type the way encoding/json does, reporting errors and unknown fields. */
export function goDecode(value: unknown, type: GoType, path = ''): GoDecoding {
  const out: GoDecoding = { errors: [], unknown: [] };
  const at = (p: string) => (path === '' ? p : `${path}.${p}`);
  const wrong = (want: string) => {
    const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    out.errors.push(`${path || '<root>'}: cannot unmarshal ${got} into ${want}`);
  };
  // null decodes into anything (a nil pointer, slice or map, or a zero value).
  if (value === null) return out;
  if (type === 'string' || type === 'time' || type === 'duration') {
    if (typeof value !== 'string') wrong(type);
    else if (type === 'time' && !rfc3339.test(value)) out.errors.push(`${path}: "${value}" is not RFC 3339`);
    else if (type === 'duration' && !goDurationText.test(value))
      out.errors.push(`${path}: "${value}" is not a Go duration`);
  } else if (type === 'int') {
    if (typeof value !== 'number' || !Number.isInteger(value)) wrong('int');
  } else if (type === 'bool') {
    if (typeof value !== 'boolean') wrong('bool');
  } else if ('slice' in type) {
    if (!Array.isArray(value)) wrong('slice');
    else
      for (const [i, v] of (value as unknown[]).entries())
        merge(out, goDecode(v, type.slice, `${path}[${i}]`));
  } else if (typeof value !== 'object' || Array.isArray(value)) {
    wrong('map' in type ? 'map' : 'struct');
  } else if ('map' in type) {
    for (const [k, v] of Object.entries(value)) merge(out, goDecode(v, type.map, at(k)));
  } else {
    for (const [k, v] of Object.entries(value)) {
      const field = type.struct[k];
      if (field === undefined) out.unknown.push(at(k));
      else merge(out, goDecode(v, field, at(k)));
    }
  }
  return out;
}

function merge(into: GoDecoding, from: GoDecoding): void {
  into.errors.push(...from.errors);
  into.unknown.push(...from.unknown);
}

/**
 * velero-backup.json of a Velero backup made with
 * `velero backup create shop-selected --include-namespaces shop --selector 'app=shop,tier in (a,b)'`
 * (Velero's CLI parses --selector with metav1.ParseToLabelSelector: `k=v` into matchLabels, the rest into
 * matchExpressions), or with --or-selector 'app=shop or tier notin (c)'.
 */
export function veleroSelectorBackupJson(
  name: string,
  selectors: 'labelSelector' | 'orLabelSelectors',
): Record<string, unknown> {
  const base = veleroBackupJson(name);
  const spec = base['spec'] as Record<string, unknown>;
  if (selectors === 'labelSelector')
    spec['labelSelector'] = {
      matchLabels: { app: 'shop' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }],
    };
  else
    spec['orLabelSelectors'] = [
      { matchLabels: { app: 'shop' } },
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['c'] }] },
    ];
  return base;
}
