package csidriver

import (
	"context"
	"errors"
	"os"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
)

type node struct {
	csi.UnimplementedNodeServer
	d *Driver
}

func (n *node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.d.opts.NodeID}, nil
}

// NodeGetCapabilities: none. There is no staging step (a bind mount needs none) and no volume stats.
func (n *node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

// NodePublishVolume bind-mounts the volume's directory on the target path, read-only when the request
// or the access mode says so. Publishing again on the same target with the same flag does nothing.
func (n *node) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	target := req.GetTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path is required")
	}
	if err := checkCapability("volume_capability", req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	mode := req.GetVolumeCapability().GetAccessMode().GetMode()
	readOnly := req.GetReadonly() || mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		mode == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY

	d := n.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	vol := d.store.volumes[req.GetVolumeId()]
	if vol == nil {
		return nil, status.Errorf(codes.NotFound, "volume %q does not exist", req.GetVolumeId())
	}

	mounted, err := d.mounter.IsMountPoint(target)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "target_path %s: %v", target, err)
	}
	if mounted {
		pub, ours := vol.Publications[target]
		switch {
		case !ours:
			return nil, status.Errorf(codes.AlreadyExists, "target_path %s is already a mount point, not of volume %q", target, vol.ID)
		case pub.ReadOnly != readOnly:
			return nil, status.Errorf(codes.AlreadyExists, "volume %q is already published at %s with readonly %t", vol.ID, target, pub.ReadOnly)
		}
		return &csi.NodePublishVolumeResponse{}, nil
	}

	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "target_path: %v", err)
	}
	options := []string{"bind"}
	if readOnly {
		options = append(options, "ro")
	}
	if err := d.mounter.Mount(d.store.volumeDir(vol.ID), target, "", options); err != nil {
		return nil, status.Errorf(codes.Internal, "bind mount: %v", err)
	}
	if vol.Publications == nil {
		vol.Publications = map[string]publication{}
	}
	vol.Publications[target] = publication{ReadOnly: readOnly}
	if err := d.store.saveVolume(vol); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume unmounts the target path and removes it. A target that is already gone, or a
// volume the driver does not know, is not an error: the kubelet can always clean up.
func (n *node) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	target := req.GetTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path is required")
	}
	d := n.d
	unlock, lockErr := d.lock()
	if lockErr != nil {
		return nil, lockErr
	}
	defer unlock()
	if err := mount.CleanupMountPoint(target, d.mounter, true); err != nil {
		return nil, status.Errorf(codes.Internal, "target_path %s: %v", target, err)
	}
	if vol := d.store.volumes[req.GetVolumeId()]; vol != nil {
		if _, ok := vol.Publications[target]; ok {
			delete(vol.Publications, target)
			if err := d.store.saveVolume(vol); err != nil {
				return nil, status.Errorf(codes.Internal, "%v", err)
			}
		}
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
