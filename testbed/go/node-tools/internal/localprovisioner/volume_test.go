package localprovisioner

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var opts = Options{ProvisionerName: "testbed.cairn.dev/local", NodeName: "node-a", BaseDir: "/srv/volumes"}

func class(reclaim *v1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta:    metav1.ObjectMeta{Name: "local"},
		Provisioner:   opts.ProvisionerName,
		ReclaimPolicy: reclaim,
		MountOptions:  []string{"noatime"},
	}
}

func claim() *v1.PersistentVolumeClaim {
	className := "local"
	return &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "data", UID: "1234", Annotations: map[string]string{
			AnnSelectedNode: "node-a", AnnStorageProvisioner: opts.ProvisionerName,
		}},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: &className,
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce, v1.ReadWriteOncePod},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
}

func TestTheVolumeOfAClaim(t *testing.T) {
	retain := v1.PersistentVolumeReclaimRetain
	pv, err := opts.buildVolume(claim(), class(&retain))
	if err != nil {
		t.Fatal(err)
	}
	if pv.Name != "pvc-1234" || pv.Annotations[AnnProvisionedBy] != opts.ProvisionerName {
		t.Errorf("name %s, annotations %v", pv.Name, pv.Annotations)
	}
	if pv.Spec.Local == nil || pv.Spec.Local.Path != "/srv/volumes/pvc-1234" {
		t.Errorf("local %v", pv.Spec.Local)
	}
	if size := pv.Spec.Capacity[v1.ResourceStorage]; size.String() != "2Gi" {
		t.Errorf("capacity %s", size.String())
	}
	if len(pv.Spec.AccessModes) != 2 || pv.Spec.AccessModes[1] != v1.ReadWriteOncePod {
		t.Errorf("access modes %v", pv.Spec.AccessModes)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != "app" || ref.Name != "data" || ref.UID != "1234" || ref.Kind != "PersistentVolumeClaim" {
		t.Errorf("claimRef %v", ref)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != retain || pv.Spec.StorageClassName != "local" ||
		len(pv.Spec.MountOptions) != 1 || *pv.Spec.VolumeMode != v1.PersistentVolumeFilesystem {
		t.Errorf("spec %+v", pv.Spec)
	}
	if affinityNode(pv) != "node-a" {
		t.Errorf("node affinity %v", pv.Spec.NodeAffinity)
	}
	if !opts.ours(pv) {
		t.Error("the provisioner does not recognise its own volume")
	}
	other := opts
	other.NodeName = "node-b"
	if other.ours(pv) {
		t.Error("the provisioner of another node claims the volume")
	}

	pv, err = opts.buildVolume(claim(), class(nil))
	if err != nil || pv.Spec.PersistentVolumeReclaimPolicy != v1.PersistentVolumeReclaimDelete {
		t.Errorf("a class without reclaimPolicy means Delete; got %v, %v", pv.Spec.PersistentVolumeReclaimPolicy, err)
	}
}

func TestClaimsItCannotServe(t *testing.T) {
	block := v1.PersistentVolumeBlock
	for _, c := range []struct {
		change func(*v1.PersistentVolumeClaim)
		want   string
	}{
		{func(c *v1.PersistentVolumeClaim) { c.Spec.VolumeMode = &block }, "spec.volumeMode Block is not supported"},
		{func(c *v1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }, "spec.resources.requests.storage is required"},
		{func(c *v1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector is not supported"},
	} {
		pvc := claim()
		c.change(pvc)
		if _, err := opts.buildVolume(pvc, class(nil)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

func TestWhichClaimsItProvisions(t *testing.T) {
	if ok, why := opts.wants(claim(), class(nil)); !ok {
		t.Fatalf("a claim selected for this node is not provisioned: %s", why)
	}
	otherClass := class(nil)
	otherClass.Provisioner = "someone.else"
	now := metav1.Now()
	for _, c := range []struct {
		change func(*v1.PersistentVolumeClaim)
		class  *storagev1.StorageClass
		want   string
	}{
		{func(c *v1.PersistentVolumeClaim) { delete(c.Annotations, AnnSelectedNode) }, class(nil), "not (yet) selected"},
		{func(c *v1.PersistentVolumeClaim) { c.Annotations[AnnSelectedNode] = "node-b" }, class(nil), "not (yet) selected"},
		{func(c *v1.PersistentVolumeClaim) { delete(c.Annotations, AnnStorageProvisioner) }, class(nil), "PV controller"},
		{func(c *v1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv-1" }, class(nil), "bound"},
		{func(c *v1.PersistentVolumeClaim) { c.DeletionTimestamp = &now }, class(nil), "being deleted"},
		{func(*v1.PersistentVolumeClaim) {}, otherClass, "another provisioner"},
		{func(*v1.PersistentVolumeClaim) {}, nil, "another provisioner"},
	} {
		pvc := claim()
		c.change(pvc)
		if ok, why := opts.wants(pvc, c.class); ok || !strings.Contains(why, c.want) {
			t.Errorf("wants: %t %q, want false %q", ok, why, c.want)
		}
	}
}

func TestWhichVolumesItDeletes(t *testing.T) {
	pv, err := opts.buildVolume(claim(), class(nil))
	if err != nil {
		t.Fatal(err)
	}
	pv.Status.Phase = v1.VolumeBound
	if opts.shouldDelete(pv) {
		t.Error("a bound volume is deleted")
	}
	pv.Status.Phase = v1.VolumeReleased
	if !opts.shouldDelete(pv) {
		t.Error("a released volume under Delete is kept")
	}
	pv.Spec.PersistentVolumeReclaimPolicy = v1.PersistentVolumeReclaimRetain
	if opts.shouldDelete(pv) {
		t.Error("a released volume under Retain is deleted")
	}
	pv.Spec.PersistentVolumeReclaimPolicy = v1.PersistentVolumeReclaimDelete
	pv.Spec.Local.Path = "/etc"
	if opts.shouldDelete(pv) {
		t.Error("a volume whose path is not <base-dir>/<name> is deleted")
	}
}
