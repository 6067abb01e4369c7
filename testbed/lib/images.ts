// Container images without a registry: each image is an OCI image layout written from files on this
// machine, in one tarball that `ctr images import` loads into the node's containerd. No registry is
// reachable from the testbed (and the node's containerd is pointed at a closed loopback proxy so that
// nothing is ever pulled), so pods use `imagePullPolicy: Never`.
//
// To add an image: add an entry to `testbedImages` with its name, the files of its root filesystem
// (copied from this machine or from the testbed's Go-built tools) and its command; `up` imports it into
// every node; a test refers to it by `TESTBED_IMAGES.<key>` from test/helpers/node.ts.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface ImageSpec {
  /** The full reference, as the kubelet asks containerd for it. */
  name: string;
  /** Writes the image's root filesystem into `rootfs`. */
  build(rootfs: string): void;
  config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string };
}

/** The sandbox (pause) image: containerd's `sandbox_image`. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
/** Debian's static busybox, with every applet linked in /bin. */
export const BUSYBOX_IMAGE = 'testbed.cairn.dev/busybox:1.35';

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function copyExecutable(from: string, to: string): void {
  copyFileSync(from, to);
  chmodSync(to, 0o755);
}

export function testbedImages(tools: { pause: string; busybox: string }): ImageSpec[] {
  return [
    {
      name: PAUSE_IMAGE,
      build(rootfs) {
        copyExecutable(tools.pause, join(rootfs, 'pause'));
      },
      config: { Entrypoint: ['/pause'], Env: [PATH_ENV], WorkingDir: '/' },
    },
    {
      name: BUSYBOX_IMAGE,
      build(rootfs) {
        for (const dir of ['bin', 'etc', 'root', 'tmp', 'var', 'proc', 'sys', 'dev', 'data']) {
          mkdirSync(join(rootfs, dir), { recursive: true });
        }
        chmodSync(join(rootfs, 'tmp'), 0o1777);
        copyExecutable(tools.busybox, join(rootfs, 'bin', 'busybox'));
        const applets = execFileSync(tools.busybox, ['--list'], { encoding: 'utf8' }).split('\n');
        for (const applet of applets) {
          if (applet && applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
        }
        writeFileSync(
          join(rootfs, 'etc', 'passwd'),
          'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
        );
        writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
      },
      config: { Cmd: ['sh'], Env: [PATH_ENV], WorkingDir: '/' },
    },
  ];
}

function goArch(): string {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
  const value = arch[process.arch];
  if (!value) throw new Error(`no OCI architecture for node's process.arch ${process.arch}`);
  return value;
}

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * Writes `spec` as an OCI image layout tarball at `file` (working in `workDir`), with the annotation
 * containerd's importer names the image by. The layer is a reproducible tar (sorted, mtime 0, root-owned).
 */
export function writeImageTarball(spec: ImageSpec, workDir: string, file: string): void {
  rmSync(workDir, { recursive: true, force: true });
  const rootfs = join(workDir, 'rootfs');
  const layout = join(workDir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(rootfs, { recursive: true });
  mkdirSync(blobs, { recursive: true });
  spec.build(rootfs);

  const layerTar = join(workDir, 'layer.tar');
  execFileSync('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    rootfs,
    '-cf',
    layerTar,
    '.',
  ]);
  const put = (mediaType: string, bytes: Buffer): Blob => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  };
  const layer = put('application/vnd.oci.image.layer.v1.tar', readFileSync(layerTar));
  const platform = { architecture: goArch(), os: 'linux' };
  const config = put(
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(
      JSON.stringify({
        ...platform,
        created: '1970-01-01T00:00:00Z',
        config: spec.config,
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'cairn testbed (testbed/lib/images.ts)' }],
      }),
    ),
  );
  const manifest = put(
    'application/vnd.oci.image.manifest.v1+json',
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers: [layer],
      }),
    ),
  );
  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          ...manifest,
          platform,
          annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': tag },
        },
      ],
    }),
  );
  execFileSync('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '-C',
    layout,
    '-cf',
    file,
    '.',
  ]);
  if (statSync(file).size === 0) throw new Error(`image ${spec.name}: empty tarball ${file}`);
}
