package csidriver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// What the sanity suite does not look at: the files themselves, restarts, registration.

type clients struct {
	controller csi.ControllerClient
	node       csi.NodeClient
}

func dial(t *testing.T, socket string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func connect(t *testing.T, d *Driver) clients {
	conn := dial(t, d.socket)
	return clients{controller: csi.NewControllerClient(conn), node: csi.NewNodeClient(conn)}
}

func mountCapability(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func createVolume(t *testing.T, c clients, req *csi.CreateVolumeRequest) *csi.Volume {
	t.Helper()
	if req.VolumeCapabilities == nil {
		req.VolumeCapabilities = []*csi.VolumeCapability{mountCapability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)}
	}
	resp, err := c.controller.CreateVolume(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateVolume %s: %v", req.Name, err)
	}
	return resp.Volume
}

func expectCode(t *testing.T, err error, code codes.Code, messagePart string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), messagePart) {
		t.Fatalf("got %v, want %v naming %q", err, code, messagePart)
	}
}

// shortTempDir is a temporary directory with a path short enough for the sockets in it (t.TempDir's
// paths, named after the test, may exceed what a unix socket address holds).
func shortTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "csi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func testOptions(t *testing.T) Options {
	dir := shortTempDir(t)
	return Options{
		Name:     DefaultName,
		NodeID:   "node-a",
		DataDir:  filepath.Join(dir, "data"),
		Endpoint: "unix://" + filepath.Join(dir, "csi.sock"),
	}
}

func TestSnapshotsAndClonesCopyTheFilesWithTheirModes(t *testing.T) {
	d := startDriver(t, testOptions(t))
	c := connect(t, d)
	ctx := context.Background()

	vol := createVolume(t, c, &csi.CreateVolumeRequest{Name: "pvc-source"})
	dir := d.store.volumeDir(vol.VolumeId)
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o777 {
		t.Fatalf("a new volume is a directory any pod user may write in; got %v, %v", info, err)
	}
	mustWrite(t, filepath.Join(dir, "data.txt"), "first version", 0o640)
	mustWrite(t, filepath.Join(dir, "sub", "script.sh"), "#!/bin/sh\n", 0o750)
	if err := os.Symlink("data.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	snap, err := c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Snapshot.ReadyToUse || snap.Snapshot.SizeBytes != vol.CapacityBytes || snap.Snapshot.SourceVolumeId != vol.VolumeId {
		t.Fatalf("snapshot %v: want ready, of %s, sized as the volume (%d)", snap.Snapshot, vol.VolumeId, vol.CapacityBytes)
	}
	// The snapshot is a copy: later writes to the volume do not change it.
	mustWrite(t, filepath.Join(dir, "data.txt"), "second version", 0o640)

	restored := createVolume(t, c, &csi.CreateVolumeRequest{
		Name: "pvc-restored",
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.Snapshot.SnapshotId},
		}},
	})
	if restored.GetContentSource().GetSnapshot().GetSnapshotId() != snap.Snapshot.SnapshotId {
		t.Fatalf("CreateVolume must return the content source it was given; got %v", restored.ContentSource)
	}
	restoredDir := d.store.volumeDir(restored.VolumeId)
	expectFile(t, filepath.Join(restoredDir, "data.txt"), "first version", 0o640)
	expectFile(t, filepath.Join(restoredDir, "sub", "script.sh"), "#!/bin/sh\n", 0o750)
	if target, err := os.Readlink(filepath.Join(restoredDir, "link")); err != nil || target != "data.txt" {
		t.Fatalf("symbolic link: %q, %v", target, err)
	}

	clone := createVolume(t, c, &csi.CreateVolumeRequest{
		Name: "pvc-clone",
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol.VolumeId},
		}},
	})
	expectFile(t, filepath.Join(d.store.volumeDir(clone.VolumeId), "data.txt"), "second version", 0o640)

	// A smaller volume than the snapshot's size is refused.
	_, err = c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name:               "pvc-too-small",
		CapacityRange:      &csi.CapacityRange{RequiredBytes: 1024},
		VolumeCapabilities: []*csi.VolumeCapability{mountCapability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)},
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.Snapshot.SnapshotId},
		}},
	})
	expectCode(t, err, codes.OutOfRange, "capacity_range")
}

func TestErrorsNameTheField(t *testing.T) {
	d := startDriver(t, testOptions(t))
	c := connect(t, d)
	ctx := context.Background()
	writer := []*csi.VolumeCapability{mountCapability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)}

	_, err := c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}}})
	expectCode(t, err, codes.InvalidArgument, "volume_capabilities[0].block")
	_, err = c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: writer,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2048, LimitBytes: 1024}})
	expectCode(t, err, codes.InvalidArgument, "required_bytes 2048 exceeds limit_bytes 1024")

	vol := createVolume(t, c, &csi.CreateVolumeRequest{Name: "v", CapacityRange: &csi.CapacityRange{RequiredBytes: 4096}})
	_, err = c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "v", VolumeCapabilities: writer,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 8192}})
	expectCode(t, err, codes.AlreadyExists, `volume "v" already exists with capacity 4096 bytes`)

	if _, err := c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol.VolumeId}); err != nil {
		t.Fatal(err)
	}
	other := createVolume(t, c, &csi.CreateVolumeRequest{Name: "w"})
	_, err = c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: other.VolumeId})
	expectCode(t, err, codes.AlreadyExists, `snapshot "s" already exists, of volume "`+vol.VolumeId+`"`)
	_, err = c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "t", SourceVolumeId: "vol-missing"})
	expectCode(t, err, codes.NotFound, `source_volume_id: volume "vol-missing" does not exist`)
	_, err = c.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "x", VolumeCapabilities: writer,
		VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "snap-missing"},
		}}})
	expectCode(t, err, codes.NotFound, `volume_content_source.snapshot.snapshot_id: snapshot "snap-missing" does not exist`)
	_, err = c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "x"})
	expectCode(t, err, codes.Aborted, `starting_token "x"`)
	_, err = c.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: "vol-missing",
		TargetPath: filepath.Join(t.TempDir(), "target"), VolumeCapability: writer[0]})
	expectCode(t, err, codes.NotFound, `volume "vol-missing" does not exist`)
}

func TestPublishingBindMountsAndReadOnlyMeansReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume bind-mounts the volume")
	}
	d := startDriver(t, testOptions(t))
	c := connect(t, d)
	ctx := context.Background()
	vol := createVolume(t, c, &csi.CreateVolumeRequest{Name: "pvc-mounted"})
	mustWrite(t, filepath.Join(d.store.volumeDir(vol.VolumeId), "hello"), "from the volume", 0o644)

	pods := t.TempDir()
	writable, readOnly := filepath.Join(pods, "rw", "mount"), filepath.Join(pods, "ro", "mount")
	publish := func(target string, ro bool) error {
		_, err := c.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target,
			Readonly: ro, VolumeCapability: mountCapability(csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER)})
		return err
	}
	for _, p := range []struct {
		target string
		ro     bool
	}{{writable, false}, {writable, false}, {readOnly, true}} { // the second call repeats the first
		if err := publish(p.target, p.ro); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, target := range []string{writable, readOnly} {
			_ = syscall.Unmount(target, syscall.MNT_DETACH)
		}
	})
	expectCode(t, publish(writable, true), codes.AlreadyExists, "readonly false")

	expectFile(t, filepath.Join(writable, "hello"), "from the volume", 0o644)
	mustWrite(t, filepath.Join(writable, "from-pod"), "written through the mount", 0o600)
	expectFile(t, filepath.Join(d.store.volumeDir(vol.VolumeId), "from-pod"), "written through the mount", 0o600)
	err := os.WriteFile(filepath.Join(readOnly, "nope"), nil, 0o600)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("writing on the read-only publication: got %v, want EROFS", err)
	}

	_, err = c.controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol.VolumeId})
	expectCode(t, err, codes.FailedPrecondition, "still published")

	for _, target := range []string{writable, readOnly, readOnly} { // the third call repeats the second
		if _, err := c.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("target %s still there after NodeUnpublishVolume: %v", target, err)
		}
	}
	if _, err := c.controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: vol.VolumeId}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.store.volumeDir(vol.VolumeId)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume directory still there after DeleteVolume: %v", err)
	}
}

func TestARestartedDriverKnowsItsVolumesAndSnapshots(t *testing.T) {
	opts := testOptions(t)
	first := startDriver(t, opts)
	c := connect(t, first)
	ctx := context.Background()
	vol := createVolume(t, c, &csi.CreateVolumeRequest{Name: "pvc-kept", CapacityRange: &csi.CapacityRange{RequiredBytes: 5 << 20}})
	snap, err := c.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-kept", SourceVolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	first.Stop()

	second := startDriver(t, opts)
	c = connect(t, second)
	again := createVolume(t, c, &csi.CreateVolumeRequest{Name: "pvc-kept", CapacityRange: &csi.CapacityRange{RequiredBytes: 5 << 20}})
	if again.VolumeId != vol.VolumeId || again.CapacityBytes != 5<<20 {
		t.Fatalf("after a restart CreateVolume of the same name gave %v, want volume %s of %d bytes", again, vol.VolumeId, 5<<20)
	}
	list, err := c.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Entries) != 1 || list.Entries[0].Snapshot.SnapshotId != snap.Snapshot.SnapshotId ||
		!list.Entries[0].Snapshot.CreationTime.AsTime().Equal(snap.Snapshot.CreationTime.AsTime()) {
		t.Fatalf("after a restart ListSnapshots gave %v, want %v", list.Entries, snap.Snapshot)
	}
}

func TestRegistersWithTheKubeletThroughTheRegistrationSocket(t *testing.T) {
	opts := testOptions(t)
	opts.RegistrationDir = filepath.Join(shortTempDir(t), "plugins_registry")
	d := startDriver(t, opts)
	regSocket := filepath.Join(opts.RegistrationDir, DefaultName+"-reg.sock")
	client := registerapi.NewRegistrationClient(dial(t, regSocket))

	info, err := client.GetInfo(context.Background(), &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != registerapi.CSIPlugin || info.Name != DefaultName || info.Endpoint != d.socket ||
		len(info.SupportedVersions) != 1 || info.SupportedVersions[0] != "1.0.0" {
		t.Fatalf("GetInfo gave %v", info)
	}
	if _, err := client.NotifyRegistrationStatus(context.Background(), &registerapi.RegistrationStatus{PluginRegistered: true}); err != nil {
		t.Fatal(err)
	}
	// The CSI endpoint it names answers.
	identityInfo, err := csi.NewIdentityClient(dial(t, info.Endpoint)).GetPluginInfo(context.Background(), &csi.GetPluginInfoRequest{})
	if err != nil || identityInfo.Name != DefaultName {
		t.Fatalf("GetPluginInfo on %s: %v, %v", info.Endpoint, identityInfo, err)
	}

	// Stopping removes the sockets, so the kubelet deregisters the driver.
	d.Stop()
	for _, socket := range []string{regSocket, d.socket} {
		if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("socket %s left after Stop: %v", socket, err)
		}
	}
}

func TestRefusesBadOptions(t *testing.T) {
	base := testOptions(t)
	for _, c := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.NodeID = "" }, "node id is required"},
		{func(o *Options) { o.DataDir = "" }, "data directory is required"},
		{func(o *Options) { o.Endpoint = "tcp://127.0.0.1:9000" }, `endpoint "tcp://127.0.0.1:9000": only unix sockets`},
		{func(o *Options) { o.Endpoint = "unix://relative.sock" }, "must be absolute"},
		{func(o *Options) { o.Endpoint = "unix:///" + strings.Repeat("d", 110) + "/csi.sock" }, "unix sockets allow at most 107"},
		{func(o *Options) { o.RegistrationDir = "/" + strings.Repeat("r", 90) }, "registration directory: socket path"},
	} {
		opts := base
		c.change(&opts)
		if _, err := Start(opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start: got %v, want %q", err, c.want)
		}
	}
}

func mustWrite(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func expectFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != content || info.Mode().Perm() != mode {
		t.Fatalf("%s: %q mode %v, want %q mode %v", path, data, info.Mode().Perm(), content, mode)
	}
}
