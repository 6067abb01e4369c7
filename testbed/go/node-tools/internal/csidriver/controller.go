package csidriver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// defaultCapacity is a volume's size when the request names none. Sizes are nominal: a volume is a
// directory without a quota.
const defaultCapacity = 1 << 30

type controller struct {
	csi.UnimplementedControllerServer
	d *Driver
}

func (c *controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, rpc := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
		csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
		csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: rpc}},
		})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

func (c *controller) CreateVolume(_ context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if err := checkCapabilities("volume_capabilities", req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	required, limit := req.GetCapacityRange().GetRequiredBytes(), req.GetCapacityRange().GetLimitBytes()
	if required < 0 || limit < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes %d and limit_bytes %d must not be negative", required, limit)
	}
	if limit > 0 && required > limit {
		return nil, status.Errorf(codes.InvalidArgument, "capacity_range: required_bytes %d exceeds limit_bytes %d", required, limit)
	}
	var sourceSnapshot, sourceVolume string
	if src := req.GetVolumeContentSource(); src != nil {
		switch {
		case src.GetSnapshot() != nil:
			if sourceSnapshot = src.GetSnapshot().GetSnapshotId(); sourceSnapshot == "" {
				return nil, status.Error(codes.InvalidArgument, "volume_content_source.snapshot.snapshot_id is required")
			}
		case src.GetVolume() != nil:
			if sourceVolume = src.GetVolume().GetVolumeId(); sourceVolume == "" {
				return nil, status.Error(codes.InvalidArgument, "volume_content_source.volume.volume_id is required")
			}
		default:
			return nil, status.Error(codes.InvalidArgument, "volume_content_source: neither a snapshot nor a volume")
		}
	}

	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	st := d.store

	if existing := st.volumeByName(req.GetName()); existing != nil {
		if existing.CapacityBytes < required || (limit > 0 && existing.CapacityBytes > limit) {
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q already exists with capacity %d bytes, outside the requested range (required_bytes %d, limit_bytes %d)",
				req.GetName(), existing.CapacityBytes, required, limit)
		}
		if existing.SourceSnapshotID != sourceSnapshot || existing.SourceVolumeID != sourceVolume {
			return nil, status.Errorf(codes.AlreadyExists,
				"volume %q already exists from another content source (snapshot %q, volume %q)",
				req.GetName(), existing.SourceSnapshotID, existing.SourceVolumeID)
		}
		return &csi.CreateVolumeResponse{Volume: existing.csi()}, nil
	}

	// The source, and the smallest size a volume made from it may have.
	var sourceDir string
	var minimum int64
	switch {
	case sourceSnapshot != "":
		snap := st.snapshots[sourceSnapshot]
		if snap == nil {
			return nil, status.Errorf(codes.NotFound, "volume_content_source.snapshot.snapshot_id: snapshot %q does not exist", sourceSnapshot)
		}
		sourceDir, minimum = st.snapshotDir(snap.ID), snap.SizeBytes
	case sourceVolume != "":
		vol := st.volumes[sourceVolume]
		if vol == nil {
			return nil, status.Errorf(codes.NotFound, "volume_content_source.volume.volume_id: volume %q does not exist", sourceVolume)
		}
		sourceDir, minimum = st.volumeDir(vol.ID), vol.CapacityBytes
	}
	capacity := required
	if capacity == 0 {
		capacity = max(defaultCapacity, minimum)
		if limit > 0 && capacity > limit {
			capacity = limit
		}
	}
	if capacity < minimum {
		return nil, status.Errorf(codes.OutOfRange,
			"capacity_range: %d bytes is less than the %d bytes of the content source", capacity, minimum)
	}

	vol := &volumeRecord{
		ID:               idFor("vol-", req.GetName()),
		Name:             req.GetName(),
		CapacityBytes:    capacity,
		SourceSnapshotID: sourceSnapshot,
		SourceVolumeID:   sourceVolume,
	}
	dir := st.volumeDir(vol.ID)
	if sourceDir != "" {
		if err := copyTree(sourceDir, dir); err != nil {
			return nil, status.Errorf(codes.Internal, "copying the content source: %v", err)
		}
	} else {
		if err := os.RemoveAll(dir); err != nil { // the leftover of an interrupted call
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		// Pods that run as any user may write in it, as in a fresh filesystem of most drivers.
		if err := os.Mkdir(dir, 0o777); err != nil {
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
		if err := os.Chmod(dir, 0o777); err != nil { // the umask does not apply to chmod
			return nil, status.Errorf(codes.Internal, "%v", err)
		}
	}
	if err := st.saveVolume(vol); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.CreateVolumeResponse{Volume: vol.csi()}, nil
}

// csi is the volume as CreateVolume returns it; the content source is returned as it was requested.
func (v *volumeRecord) csi() *csi.Volume {
	vol := &csi.Volume{VolumeId: v.ID, CapacityBytes: v.CapacityBytes}
	switch {
	case v.SourceSnapshotID != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.SourceSnapshotID},
		}}
	case v.SourceVolumeID != "":
		vol.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.SourceVolumeID},
		}}
	}
	return vol
}

func (c *controller) DeleteVolume(_ context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	vol := d.store.volumes[req.GetVolumeId()]
	if vol == nil {
		return &csi.DeleteVolumeResponse{}, nil
	}
	// Removing the directory would remove the files under a pod that still has them mounted.
	for target := range vol.Publications {
		mounted, err := d.mounter.IsMountPoint(target)
		if err == nil && mounted {
			return nil, status.Errorf(codes.FailedPrecondition, "volume %q is still published at %s", vol.ID, target)
		}
	}
	if err := d.store.forgetVolume(vol.ID); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (c *controller) ValidateVolumeCapabilities(_ context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities is required")
	}
	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	if d.store.volumes[req.GetVolumeId()] == nil {
		return nil, status.Errorf(codes.NotFound, "volume %q does not exist", req.GetVolumeId())
	}
	if err := checkCapabilities("volume_capabilities", req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: status.Convert(err).Message()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

func (c *controller) CreateSnapshot(_ context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if req.GetSourceVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "source_volume_id is required")
	}
	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	st := d.store
	if existing := st.snapshotByName(req.GetName()); existing != nil {
		if existing.SourceVolumeID != req.GetSourceVolumeId() {
			return nil, status.Errorf(codes.AlreadyExists, "snapshot %q already exists, of volume %q", req.GetName(), existing.SourceVolumeID)
		}
		return &csi.CreateSnapshotResponse{Snapshot: existing.csi()}, nil
	}
	vol := st.volumes[req.GetSourceVolumeId()]
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "source_volume_id: volume %q does not exist", req.GetSourceVolumeId())
	}
	snap := &snapshotRecord{
		ID:             idFor("snap-", req.GetName()),
		Name:           req.GetName(),
		SourceVolumeID: vol.ID,
		// What a volume made from the snapshot needs at least: the size of the volume it copies.
		SizeBytes: vol.CapacityBytes,
		CreatedAt: time.Now().UTC(),
	}
	if err := copyTree(st.volumeDir(vol.ID), st.snapshotDir(snap.ID)); err != nil {
		return nil, status.Errorf(codes.Internal, "copying the volume: %v", err)
	}
	if err := st.saveSnapshot(snap); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.CreateSnapshotResponse{Snapshot: snap.csi()}, nil
}

func (s *snapshotRecord) csi() *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     s.ID,
		SourceVolumeId: s.SourceVolumeID,
		SizeBytes:      s.SizeBytes,
		CreationTime:   timestamppb.New(s.CreatedAt),
		ReadyToUse:     true,
	}
}

func (c *controller) DeleteSnapshot(_ context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "snapshot_id is required")
	}
	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	if d.store.snapshots[req.GetSnapshotId()] == nil {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	if err := d.store.forgetSnapshot(req.GetSnapshotId()); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.DeleteSnapshotResponse{}, nil
}

// ListSnapshots lists in the order of snapshot ids; a token is the index of the next entry.
func (c *controller) ListSnapshots(_ context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	if req.GetMaxEntries() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_entries %d must not be negative", req.GetMaxEntries())
	}
	d := c.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	var matching []*snapshotRecord
	for _, snap := range d.store.snapshots {
		if req.GetSnapshotId() != "" && snap.ID != req.GetSnapshotId() {
			continue
		}
		if req.GetSourceVolumeId() != "" && snap.SourceVolumeID != req.GetSourceVolumeId() {
			continue
		}
		matching = append(matching, snap)
	}
	sort.Slice(matching, func(i, j int) bool { return matching[i].ID < matching[j].ID })

	start := 0
	if token := req.GetStartingToken(); token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(matching) {
			return nil, status.Errorf(codes.Aborted, "starting_token %q is not a token this driver gave", token)
		}
		start = n
	}
	end := len(matching)
	if req.GetMaxEntries() > 0 && start+int(req.GetMaxEntries()) < end {
		end = start + int(req.GetMaxEntries())
	}
	resp := &csi.ListSnapshotsResponse{}
	for _, snap := range matching[start:end] {
		resp.Entries = append(resp.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snap.csi()})
	}
	if end < len(matching) {
		resp.NextToken = strconv.Itoa(end)
	}
	return resp, nil
}

// checkCapabilities accepts mount (filesystem) access with any access mode; volumes are directories,
// so block access is refused.
func checkCapabilities(field string, caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Errorf(codes.InvalidArgument, "%s is required", field)
	}
	for i, capability := range caps {
		if err := checkCapability(fmt.Sprintf("%s[%d]", field, i), capability); err != nil {
			return err
		}
	}
	return nil
}

func checkCapability(field string, capability *csi.VolumeCapability) error {
	if capability == nil {
		return status.Errorf(codes.InvalidArgument, "%s is required", field)
	}
	if capability.GetAccessMode() == nil {
		return status.Errorf(codes.InvalidArgument, "%s.access_mode is required", field)
	}
	if mode := capability.GetAccessMode().GetMode(); mode == csi.VolumeCapability_AccessMode_UNKNOWN ||
		csi.VolumeCapability_AccessMode_Mode_name[int32(mode)] == "" {
		return status.Errorf(codes.InvalidArgument, "%s.access_mode.mode %v is not supported", field, mode)
	}
	switch {
	case capability.GetBlock() != nil:
		return status.Errorf(codes.InvalidArgument, "%s.block: block access is not supported, volumes are directories", field)
	case capability.GetMount() == nil:
		return status.Errorf(codes.InvalidArgument, "%s: access_type mount is required", field)
	}
	return nil
}

// copyTree copies the directory src to dst (which it replaces) with cp -a: modes, owners, timestamps,
// symbolic and hard links preserved. The copy is made beside dst and renamed into place, so dst is
// either absent or complete.
func copyTree(src, dst string) error {
	tmp := dst + ".tmp"
	for _, path := range []string{tmp, dst} {
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	if out, err := exec.Command("cp", "-a", "--", src, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %w: %s", src, tmp, err, out)
	}
	return os.Rename(tmp, dst)
}
