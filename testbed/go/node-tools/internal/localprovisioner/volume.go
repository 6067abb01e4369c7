// Package localprovisioner provisions a `local` PersistentVolume per claim: a directory on this node
// and a PV with node affinity to it. It serves StorageClasses whose provisioner is its name and whose
// claims the scheduler placed on its node (WaitForFirstConsumer), and deletes the directory and the PV
// when a PV it made is released under reclaim policy Delete.
package localprovisioner

import (
	"fmt"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations and labels of the protocol between the scheduler, the PV controller and provisioners.
const (
	// AnnSelectedNode: set on a claim by the scheduler, the node the claim's first pod goes to.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnStorageProvisioner: set on a claim by the PV controller, the provisioner it waits for.
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// annBetaStorageProvisioner is the older name the PV controller still sets beside it.
	annBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// AnnProvisionedBy: set on a PV by its provisioner; the PV controller leaves the deletion of a
	// released PV to the provisioner it names.
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// hostnameLabel is the node label the PV's node affinity selects.
	hostnameLabel = "kubernetes.io/hostname"
)

// Options configure the provisioner.
type Options struct {
	// ProvisionerName is the StorageClass provisioner it serves, e.g. testbed.cairn.dev/local.
	ProvisionerName string
	// NodeName is this node: claims selected for it are served, and PVs get affinity to it.
	NodeName string
	// BaseDir is where the volume directories are made: <base-dir>/<pv-name>.
	BaseDir string
}

// volumeName is the PV's name for a claim, as external provisioners name it.
func volumeName(claim *v1.PersistentVolumeClaim) string {
	return "pvc-" + string(claim.UID)
}

// wants says whether the claim is one for this provisioner to provision now, and if not, why not.
func (o Options) wants(claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass) (bool, string) {
	switch {
	case claim.DeletionTimestamp != nil:
		return false, "being deleted"
	case claim.Spec.VolumeName != "":
		return false, "bound to a volume"
	case class == nil || class.Provisioner != o.ProvisionerName:
		return false, "of another provisioner's class"
	case claim.Annotations[AnnStorageProvisioner] != o.ProvisionerName && claim.Annotations[annBetaStorageProvisioner] != o.ProvisionerName:
		return false, "not (yet) handed to this provisioner by the PV controller"
	case claim.Annotations[AnnSelectedNode] != o.NodeName:
		return false, "not (yet) selected for this node"
	}
	return true, ""
}

// buildVolume is the PV for a claim of a class: a local volume at <base-dir>/<pv-name> on this node,
// bound in advance to the claim, with the claim's size, access modes and volume mode and the class's
// reclaim policy and mount options.
func (o Options) buildVolume(claim *v1.PersistentVolumeClaim, class *storagev1.StorageClass) (*v1.PersistentVolume, error) {
	size, ok := claim.Spec.Resources.Requests[v1.ResourceStorage]
	if !ok {
		return nil, fmt.Errorf("claim %s/%s: spec.resources.requests.storage is required", claim.Namespace, claim.Name)
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == v1.PersistentVolumeBlock {
		return nil, fmt.Errorf("claim %s/%s: spec.volumeMode Block is not supported, volumes are directories", claim.Namespace, claim.Name)
	}
	if claim.Spec.Selector != nil {
		return nil, fmt.Errorf("claim %s/%s: spec.selector is not supported by a dynamic provisioner", claim.Namespace, claim.Name)
	}
	reclaim := v1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	mode := v1.PersistentVolumeFilesystem
	name := volumeName(claim)
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{AnnProvisionedBy: o.ProvisionerName},
		},
		Spec: v1.PersistentVolumeSpec{
			Capacity:                      v1.ResourceList{v1.ResourceStorage: size},
			PersistentVolumeSource:        v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: o.volumeDir(name)}},
			AccessModes:                   claim.Spec.AccessModes,
			ClaimRef:                      &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID},
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &mode,
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: hostnameLabel, Operator: v1.NodeSelectorOpIn, Values: []string{o.NodeName}}},
			}}}},
		},
	}, nil
}

func (o Options) volumeDir(pvName string) string { return filepath.Join(o.BaseDir, pvName) }

// ours says whether this provisioner (this name, this node, this base directory) made the PV.
func (o Options) ours(pv *v1.PersistentVolume) bool {
	if pv.Annotations[AnnProvisionedBy] != o.ProvisionerName || pv.Spec.Local == nil {
		return false
	}
	return pv.Spec.Local.Path == o.volumeDir(pv.Name) && affinityNode(pv) == o.NodeName
}

// affinityNode is the node a PV's node affinity names the way buildVolume writes it, or "".
func affinityNode(pv *v1.PersistentVolume) string {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil || len(pv.Spec.NodeAffinity.Required.NodeSelectorTerms) != 1 {
		return ""
	}
	exprs := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions
	if len(exprs) != 1 || exprs[0].Key != hostnameLabel || exprs[0].Operator != v1.NodeSelectorOpIn || len(exprs[0].Values) != 1 {
		return ""
	}
	return exprs[0].Values[0]
}

// shouldDelete: a PV this provisioner made that its claim released, under reclaim policy Delete.
func (o Options) shouldDelete(pv *v1.PersistentVolume) bool {
	return o.ours(pv) && pv.DeletionTimestamp == nil && pv.Status.Phase == v1.VolumeReleased &&
		pv.Spec.PersistentVolumeReclaimPolicy == v1.PersistentVolumeReclaimDelete
}
